"""A gRPC client gatehouse did not write: Python grpcio against the gateway's gRPC port.

It lists the services through server reflection, learns users.v1.UserService/GetUser's
messages from the descriptors reflection returns (no generated code, no protoc), and calls it
with and without a bearer token. Prints one JSON object for tests/python_client.rs to check.

Usage: grpc_client.py HOST:PORT TOKEN
"""

import json
import sys

import grpc
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)


def main(address: str, token: str) -> None:
    channel = grpc.insecure_channel(address)
    database = ProtoReflectionDescriptorDatabase(channel)
    services = sorted(database.get_services())

    pool = DescriptorPool(database)
    method = pool.FindMethodByName("users.v1.UserService.GetUser")
    request_type = message_factory.GetMessageClass(method.input_type)
    response_type = message_factory.GetMessageClass(method.output_type)
    get_user = channel.unary_unary(
        "/users.v1.UserService/GetUser",
        request_serializer=request_type.SerializeToString,
        response_deserializer=response_type.FromString,
    )

    reply = get_user(
        request_type(user_id="123"),
        metadata=[("authorization", f"Bearer {token}")],
        timeout=10,
    )
    try:
        get_user(request_type(user_id="123"), timeout=10)
        without_token = "OK"
    except grpc.RpcError as error:
        without_token = error.code().name
    try:
        get_user(
            request_type(user_id="999"),
            metadata=[("authorization", f"Bearer {token}")],
            timeout=10,
        )
        unknown_user = "OK"
    except grpc.RpcError as error:
        unknown_user = error.code().name

    print(
        json.dumps(
            {
                "services": services,
                "user": json_format.MessageToDict(reply),
                "without_token": without_token,
                "unknown_user": unknown_user,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
