"""Send every connection from one client network to the same worker process.

With ``workers`` > 1 each worker has its own ``SO_REUSEPORT`` socket, and the
kernel spreads connections by a hash of source *and* port: one client's
connections land on every worker, and each worker counts its failed logins
apart, so an address got ``auth_failure_limit`` x ``workers`` tries.  A
classic BPF program attached to the reuseport group
(``SO_ATTACH_REUSEPORT_CBPF``, Linux 4.5) instead picks the socket from the
source network alone -- the same network the lockout counts (IPv4 /32, IPv6
/64 by default) -- so one worker sees all of a network's attempts and one
count holds for the whole server.  Connections from different networks
still spread over the workers.

The kernel runs the program with the packet's data past the TCP header, so
the source address is read relative to the network header
(``SKF_NET_OFF``); the first byte's version nibble tells IPv4 from IPv6 (a
dual-stack socket receives both).  No Debian-packaged library builds such a
program; it is fourteen instructions.
"""
from __future__ import annotations

import ctypes
import socket
import struct

SO_ATTACH_REUSEPORT_CBPF = 51
SKF_NET_OFF = -0x100000

# classic BPF opcodes (linux/filter.h)
LD_B_ABS, LD_W_ABS = 0x30, 0x20
ALU_AND_K, ALU_XOR_X, ALU_MOD_K = 0x54, 0xAC, 0x94
JMP_JEQ_K, JMP_JA = 0x15, 0x05
MISC_TAX, RET_A = 0x07, 0x16


def _net(offset: int) -> int:
    """An absolute load offset relative to the network header, as BPF's u32."""
    return (SKF_NET_OFF + offset) & 0xFFFFFFFF


def _mask(bits: int) -> int:
    """The top ``bits`` (0..32) of a 32-bit word."""
    return (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF if bits else 0


def program(workers: int, ipv4_prefix: int, ipv6_prefix: int) -> list[tuple[int, int, int, int]]:
    """(code, jt, jf, k) instructions returning a worker index for the source network."""
    high = _mask(min(ipv6_prefix, 32))
    low = _mask(min(max(ipv6_prefix - 32, 0), 32))
    return [
        (LD_B_ABS, 0, 0, _net(0)),           # A = version/IHL byte
        (ALU_AND_K, 0, 0, 0xF0),
        (JMP_JEQ_K, 0, 7, 0x60),             # IPv6 goes on; IPv4 jumps to 10
        (LD_W_ABS, 0, 0, _net(8)),           # IPv6 source, first 32 bits
        (ALU_AND_K, 0, 0, high),
        (MISC_TAX, 0, 0, 0),                 # X = A
        (LD_W_ABS, 0, 0, _net(12)),          # IPv6 source, next 32 bits
        (ALU_AND_K, 0, 0, low),
        (ALU_XOR_X, 0, 0, 0),                # A = high ^ low
        (JMP_JA, 0, 0, 2),                   # to the modulo at 12
        (LD_W_ABS, 0, 0, _net(12)),          # 10: IPv4 source
        (ALU_AND_K, 0, 0, _mask(ipv4_prefix)),
        (ALU_MOD_K, 0, 0, workers),
        (RET_A, 0, 0, 0),
    ]


def steer_by_source(sock: socket.socket, workers: int, ipv4_prefix: int,
                    ipv6_prefix: int) -> None:
    """Attach the program to ``sock``'s reuseport group; OSError if the kernel refuses."""
    instructions = program(workers, ipv4_prefix, ipv6_prefix)
    code = b"".join(struct.pack("HBBI", *instruction) for instruction in instructions)
    buffer = ctypes.create_string_buffer(code, len(code))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(instructions), ctypes.addressof(buffer))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, bytes(fprog))
