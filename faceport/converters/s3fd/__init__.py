"""S3FD (VGG16 single-shot face detector) from PyTorch ``.pth`` checkpoints.

``pth_reader`` reads the checkpoint without torch or pickle execution (``safe_unpickle``),
``layout`` maps its key names onto SFD_pytorch's, ``graph`` builds the IR, ``ops`` holds the
converters, ``family`` plugs it into :func:`faceport.converters.convert`, and ``finetune``
loads pretrained layers into a user's modified network.
"""
