# S3FD: seeded checkpoint fixtures (the tests also generate them on demand; cached by manifest)
.PHONY: s3fd-fixtures
s3fd-fixtures: $(STAMP)
	$(BIN)/python tools/s3fd_fixtures.py build/s3fd_fixtures
