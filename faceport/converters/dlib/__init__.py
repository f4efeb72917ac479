"""dlib DNN models: net_to_xml XML and binary .dat, read without dlib."""
