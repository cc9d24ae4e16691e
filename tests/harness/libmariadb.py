"""libmariadb's own C client through ctypes, for what PyMySQL lacks (mysql_change_user())."""

import ctypes


def _library() -> ctypes.CDLL:
    lib = ctypes.CDLL("libmariadb.so.3")
    lib.mysql_init.restype = ctypes.c_void_p
    lib.mysql_init.argtypes = [ctypes.c_void_p]
    lib.mysql_real_connect.restype = ctypes.c_void_p
    lib.mysql_real_connect.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                                       ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint,
                                       ctypes.c_char_p, ctypes.c_ulong]
    lib.mysql_change_user.restype = ctypes.c_char
    lib.mysql_change_user.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                                      ctypes.c_char_p]
    lib.mysql_errno.restype = ctypes.c_uint
    lib.mysql_errno.argtypes = [ctypes.c_void_p]
    lib.mysql_error.restype = ctypes.c_char_p
    lib.mysql_error.argtypes = [ctypes.c_void_p]
    lib.mysql_query.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.mysql_store_result.restype = ctypes.c_void_p
    lib.mysql_store_result.argtypes = [ctypes.c_void_p]
    lib.mysql_fetch_row.restype = ctypes.POINTER(ctypes.c_char_p)
    lib.mysql_fetch_row.argtypes = [ctypes.c_void_p]
    lib.mysql_free_result.argtypes = [ctypes.c_void_p]
    lib.mysql_close.argtypes = [ctypes.c_void_p]
    return lib


class CClient:
    """One libmariadb connection; a context manager that closes it."""

    def __init__(self, port: int, user: str, password: str, database: str,
                 host: str = "127.0.0.1"):
        self.lib = _library()
        self.handle = self.lib.mysql_init(None)
        connected = self.lib.mysql_real_connect(self.handle, host.encode(), user.encode(),
                                                password.encode(), database.encode(), port,
                                                None, 0)
        if not connected:
            error = self.error()
            self.close()
            raise ConnectionError(error)

    def error(self) -> str:
        return f"{self.lib.mysql_errno(self.handle)}: {self.lib.mysql_error(self.handle)}"

    def errno(self) -> int:
        return self.lib.mysql_errno(self.handle)

    def query(self, sql: str) -> bool:
        """Runs a statement without a result; False when it failed (see error())."""
        return self.lib.mysql_query(self.handle, sql.encode()) == 0

    def value(self, sql: str) -> bytes | None:
        """The first column of the first row; raises when the statement failed."""
        if not self.query(sql):
            raise RuntimeError(self.error())
        result = self.lib.mysql_store_result(self.handle)
        try:
            return self.lib.mysql_fetch_row(result)[0]
        finally:
            self.lib.mysql_free_result(result)

    def change_user(self, user: str, password: str, database: str) -> bool:
        """COM_CHANGE_USER; False when refused (see errno())."""
        changed = self.lib.mysql_change_user(self.handle, user.encode(), password.encode(),
                                             database.encode())
        return changed == b"\0"

    def close(self) -> None:
        if self.handle:
            self.lib.mysql_close(self.handle)
            self.handle = None

    def __enter__(self) -> "CClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
