//! Descriptors from a backend's grpc.reflection service.
