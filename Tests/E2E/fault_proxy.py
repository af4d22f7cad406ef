"""A TCP proxy on loopback for replication tests: counts the bytes a client sends through it and, when told, drops,
delays and resets connections at random (seeded, so a failure can be replayed)."""

import random
import socket
import struct
import threading
import time


class FaultProxy:
    def __init__(self, target_port: int, seed: int = 0, drop=0.0, reset=0.0, delay=0.0):
        """`drop`: share of connections closed at once; `reset`: share cut (RST) after a random number of bytes;
        `delay`: the longest pause, in seconds, before each forwarded chunk."""
        self.target_port = target_port
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.drop, self.reset, self.delay = drop, reset, delay
        self.sent = 0  # client → target bytes
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def faults(self, drop=0.0, reset=0.0, delay=0.0):
        with self.lock:
            self.drop, self.reset, self.delay = drop, reset, delay

    def close(self):
        self.closed = True
        self.listener.close()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                roll = self.random.random()
                cut_after = self.random.randint(1, 4 << 20) if roll < self.drop + self.reset else None
                dropped = roll < self.drop
                pauses = random.Random(self.random.random())
                delay = self.delay
            if dropped:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            except OSError:
                client.close()  # the target is down: as a client would see it
                continue
            state = {"left": cut_after}
            threading.Thread(target=self._pipe, args=(client, upstream, True, state, pauses, delay), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False, state, pauses, delay), daemon=True).start()

    def _pipe(self, source, sink, counted, state, pauses, delay):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if delay:
                    time.sleep(pauses.uniform(0, delay))
                if counted:
                    with self.lock:
                        self.sent += len(data)
                if state["left"] is not None:
                    state["left"] -= len(data)
                    if state["left"] <= 0:
                        for s in (source, sink):  # a reset, not a clean close
                            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.close()
                except OSError:
                    pass
