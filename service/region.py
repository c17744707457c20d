"""IP 属地: the province (or "海外") a comment was sent from, looked up offline.

The data is ip2region's xdb file as the ``ip-region`` package ships it (installed
with it; nothing is downloaded at run time), read by ip2region's official Python
binding (``py-ip2region``). Only the file is used: that package's own code (which
also asks online services) is never imported. The file is mapped into memory once
per process and shared by its threads (and, through the page cache, by every worker).

The region is stored with the comment at submission, so a newer database never
rewrites history. The address itself is never shown to the public.
"""

from __future__ import annotations

import importlib.metadata
import ipaddress
import logging
import mmap
import threading
from pathlib import Path

from ip2region import searcher as xdb
from ip2region import util as xdb_util

log = logging.getLogger(__name__)

DATA_PACKAGE = "ip-region"
DATA_FILE = "ipregion/ip2region.xdb"
ABROAD = "海外"
# ip2region names provinces as "广东省", "北京", "广西", "台湾省"; platforms show the short
# name. Anything else in the province column (unknown: "0") gives no region.
PROVINCES = frozenset(
    "北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 "
    "湖北 湖南 广东 海南 四川 贵州 云南 陕西 甘肃 青海 内蒙古 广西 西藏 宁夏 新疆".split()
)
# As Chinese platforms write them (微博, 知乎: "IP属地：中国香港").
SPECIAL_REGIONS = {"香港": "中国香港", "澳门": "中国澳门", "台湾": "中国台湾"}
SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")
REGION_MAX_LENGTH = 16  # Comment.region

_lock = threading.Lock()
_searcher: xdb.Searcher | None = None


def data_path() -> Path:
    """The shipped xdb file, found from the package's metadata (its code is not imported)."""
    return Path(str(importlib.metadata.distribution(DATA_PACKAGE).locate_file(DATA_FILE)))


def _load() -> xdb.Searcher:
    global _searcher
    with _lock:
        if _searcher is None:
            path = data_path()
            with path.open("rb") as handle:
                xdb_util.verify(handle)
                # Read-only and shared: slicing a mapping has no file position, so
                # one searcher serves every thread.
                content = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            _searcher = xdb.new_with_buffer(xdb_util.IPv4, content)  # type: ignore[arg-type]
        return _searcher


def province(raw: str) -> str | None:
    """One ip2region record (``中国|0|广东省|广州市|电信``) as shown to readers."""
    parts = raw.split("|")
    if len(parts) < 3 or parts[0] in ("", "0"):
        return None  # private, reserved or unknown
    if parts[0] != "中国":
        return ABROAD
    name = parts[2]
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    if name in SPECIAL_REGIONS:
        return SPECIAL_REGIONS[name]
    return name if name in PROVINCES else None


def lookup(address: str | None) -> str | None:
    """The region of an IP address: a province ("广东"), "中国香港", "海外", or None.

    None for private, loopback and reserved addresses, for what the data does not
    know, and for IPv6 (the shipped data covers IPv4 only; an IPv4-mapped IPv6
    address is looked up as its IPv4 address).
    """
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is None:
            return None
        ip = ip.ipv4_mapped
    if not ip.is_global:
        return None
    try:
        return province(_load().search(ip.packed))
    except (OSError, ValueError, UnicodeDecodeError) as error:
        # A broken data file must not cost a reader their comment.
        log.warning("IP region lookup failed: %s", type(error).__name__)
        return None
