#!/usr/bin/env python3
"""Sends N FastCGI requests for GET /api/training/stats straight to a pool's
unix socket, one after the other on one kept connection (as nginx does with
fastcgi_keep_conn on), rotating through the API keys given, and checks that
every answer is a 200. Standard library only.

    fcgi_client.py SOCKET KEYS_FILE N
"""
import socket
import struct
import sys

BEGIN, PARAMS, STDIN, STDOUT, STDERR, END = 1, 4, 5, 6, 7, 3


def record(kind, request_id, content):
    return struct.pack(">BBHHBx", 1, kind, request_id, len(content), 0) + content


def pair(name, value):
    def length(n):
        return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)
    name, value = name.encode(), value.encode()
    return length(len(name)) + length(len(value)) + name + value


def params(key):
    fields = {
        "QUERY_STRING": "", "REQUEST_METHOD": "GET", "CONTENT_TYPE": "", "CONTENT_LENGTH": "",
        "SCRIPT_NAME": "/api/training/stats", "REQUEST_URI": "/api/training/stats",
        "DOCUMENT_URI": "/api/training/stats", "DOCUMENT_ROOT": "/", "SERVER_PROTOCOL": "HTTP/1.1",
        "REQUEST_SCHEME": "http", "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_SOFTWARE": "nginx",
        "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40000", "SERVER_ADDR": "127.0.0.1",
        "SERVER_PORT": "8080", "SERVER_NAME": "localhost", "HTTP_HOST": "127.0.0.1:8080",
        "HTTP_USER_AGENT": "fcgi_client", "HTTP_ACCEPT": "*/*", "HTTP_X_API_KEY": key,
    }
    return b"".join(pair(n, v) for n, v in fields.items())


def main():
    path, keys_file, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    keys = [line.split("\t")[0].strip() for line in open(keys_file) if line.strip()]
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(path)
    buffer = b""
    for index in range(count):
        body = params(keys[index % len(keys)])
        message = (record(BEGIN, 1, struct.pack(">HB5x", 1, 1)) + record(PARAMS, 1, body)
                   + record(PARAMS, 1, b"") + record(STDIN, 1, b""))
        connection.sendall(message)
        stdout = b""
        while True:
            while len(buffer) < 8 or len(buffer) < 8 + struct.unpack(">H", buffer[4:6])[0] + buffer[6]:
                chunk = connection.recv(65536)
                if not chunk:
                    sys.exit("connection closed after %d requests" % index)
                buffer += chunk
            _, kind, _, length, padding = struct.unpack(">BBHHB", buffer[:7])
            content, buffer = buffer[8:8 + length], buffer[8 + length + padding:]
            if kind == STDOUT:
                stdout += content
            elif kind == END:
                break
        head = stdout.split(b"\r\n", 1)[0]
        if not (head.startswith(b"Status: 200") or (b"Status:" not in stdout.split(b"\r\n\r\n")[0])):
            sys.exit("request %d: %r" % (index, stdout[:200]))
    connection.close()


if __name__ == "__main__":
    main()
