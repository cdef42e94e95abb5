"""OpenSSL's random generators as `ssl` uses them, read through ctypes: the primary one and this
thread's public and private ones (TLS randoms draw on the public, key shares on the private). Each
keeps a reseed counter, which OpenSSL 3 raises whenever the generator takes fresh seed."""

from __future__ import annotations

import ctypes
import ssl
from functools import cache

GENERATORS = ("primary", "public", "private")
OSSL_PARAM_UNSIGNED_INTEGER = 2  # openssl/core.h


class OsslParam(ctypes.Structure):
    _fields_ = [
        ("key", ctypes.c_char_p),
        ("data_type", ctypes.c_uint),
        ("data", ctypes.c_void_p),
        ("data_size", ctypes.c_size_t),
        ("return_size", ctypes.c_size_t),
    ]


@cache
def libcrypto() -> ctypes.CDLL:
    """The libcrypto `ssl` is linked with, as this process has it mapped (not one found by name)."""
    assert ssl.OPENSSL_VERSION_INFO >= (3, 0), ssl.OPENSSL_VERSION
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "/libcrypto" in line}
    assert len(paths) == 1, paths
    library = ctypes.CDLL(paths.pop())
    for name in GENERATORS:
        getter = getattr(library, f"RAND_get0_{name}")
        getter.restype, getter.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
    library.EVP_RAND_CTX_get_params.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    library.RAND_priv_bytes.argtypes = [ctypes.c_char_p, ctypes.c_int]
    return library


def reseed_counter(generator: str) -> int:
    library = libcrypto()
    value = ctypes.c_uint(0)
    params = (OsslParam * 2)()  # the second, all zero, ends the list
    params[0] = OsslParam(b"reseed_counter", OSSL_PARAM_UNSIGNED_INTEGER, ctypes.addressof(value), 4, 0)
    context = getattr(library, f"RAND_get0_{generator}")(None)
    assert context, generator
    assert library.EVP_RAND_CTX_get_params(context, params) == 1, generator
    return value.value


def reseed_counters() -> dict[str, int]:
    return {generator: reseed_counter(generator) for generator in GENERATORS}


def draw_private(size: int) -> bytes:
    buffer = ctypes.create_string_buffer(size)
    assert libcrypto().RAND_priv_bytes(buffer, size) == 1
    return buffer.raw
