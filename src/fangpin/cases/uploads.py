"""Upload safety for the signed 承诺授权书 (SECURITY.md FILE-01): one check for the web page, the JSON API
and the demo, called from `forms.VisitForm.clean_authorization`.

    accepted = accept(upload, actor=user)   # raises Rejected with a message for the user

In order: size (10 MB) → malware scan of the bytes as sent (EICAR always; clamd when `FANGPIN_CLAMD` is
set) → type by magic bytes, which the file name's extension must not contradict → images decoded and
re-encoded by Pillow (EXIF/GPS, comments and anything appended are dropped; ≤ 40 megapixels), PDFs
parsed by pypdf (≤ 20 pages; no encryption, JavaScript, launch actions or embedded files). What is kept
gets a random name; the sanitised original name is metadata only.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import socket
import struct
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Protocol

from django.core.files.uploadedfile import UploadedFile
from PIL import Image, ImageOps
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, PdfObject

from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.audit.models import Outcome
from fangpin.conf import ConfigError, env_str

log = logging.getLogger(__name__)

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 12-megapixel phone photo is far below; a decompression bomb is far above
MAX_PDF_PAGES = 20
MAX_PDF_OBJECTS = 100_000  # a 20-page scan has a few hundred; more is a parser attack, not a scan


@dataclass(frozen=True)
class Kind:
    content_type: str
    extension: str
    names: tuple[str, ...]  # extensions a file of this kind may carry


JPEG = Kind("image/jpeg", "jpg", (".jpg", ".jpeg"))
PNG = Kind("image/png", "png", (".png",))
PDF = Kind("application/pdf", "pdf", (".pdf",))
# A scan or a phone photo of the signed 承诺授权书: recognised by its first bytes, not by its name.
SIGNATURES = {b"\xff\xd8\xff": JPEG, b"\x89PNG\r\n\x1a\n": PNG, b"%PDF-": PDF}
ALLOWED_NAMES = frozenset(name for kind in SIGNATURES.values() for name in kind.names)

# The standard 68-byte anti-virus test file, split so that a scanner on a developer's machine does not
# quarantine this source file.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


class Rejected(Exception):
    """The upload is refused: the message is shown to the user as is (the form's error). Not a
    ValueError, so that the parsers' own ValueErrors below cannot swallow it."""


class ScanUnavailable(RuntimeError):
    """The virus scanner could not give an answer."""


@dataclass(frozen=True)
class Accepted:
    """What is stored: the checked (images: re-encoded) bytes under a random name."""

    content: bytes
    kind: Kind
    original_name: str  # sanitised metadata, never part of a path
    stored_name: str  # random: the user's file name never reaches the file system (FILE-01)


def accept(upload: UploadedFile[Any], *, actor: Any) -> Accepted:
    """Check one uploaded file; malware is audited (`MALWARE_REJECTED`) in `actor`'s name."""
    content = _read(upload)
    _scan(content, actor)
    kind = sniff(content)
    if kind is None:
        raise Rejected("只接受 JPG、PNG 或 PDF 格式的扫描件/照片")
    name = clean_name(getattr(upload, "name", "") or "")
    suffix = PurePosixPath(name).suffix.lower()
    if suffix and suffix not in kind.names:
        raise Rejected(f"文件扩展名（{suffix}）与文件内容（{kind.extension.upper()}）不符")
    content = _check_pdf(content) if kind is PDF else _reencode(content, kind)
    return Accepted(content, kind, original_name=name, stored_name=f"{uuid.uuid4().hex}.{kind.extension}")


def sniff(content: bytes) -> Kind | None:
    for magic, kind in SIGNATURES.items():
        if content.startswith(magic):
            return kind
    return None


def clean_name(name: str) -> str:
    """The original file name as metadata: last path component, no control characters, ≤ 100 chars."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFC", name))[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip(" .")
    return base[-100:]


def _read(upload: UploadedFile[Any]) -> bytes:
    upload.seek(0)
    content: bytes = upload.read(MAX_BYTES + 1)  # never more than the limit in memory, whatever `size` claims
    upload.seek(0)
    if len(content) > MAX_BYTES:
        raise Rejected("文件超过 10MB，请压缩或重新拍照")
    if not content:
        raise Rejected("文件是空的，请重新上传")
    return content


# --- malware -------------------------------------------------------------------------------------


class Scanner(Protocol):
    name: str

    def scan(self, content: bytes) -> str | None:
        """The signature found, or None; raises ScanUnavailable when it cannot tell."""


class EicarScanner:
    """Always on, so the rejection path works (and is tested) on machines without clamd."""

    name = "eicar"

    def scan(self, content: bytes) -> str | None:
        return "Eicar-Test-Signature" if EICAR in content else None


class ClamdScanner:
    """clamd's INSTREAM command over its socket: length-prefixed chunks, a zero length, one reply line."""

    name = "clamd"
    chunk_size = 64 * 1024

    def __init__(self, address: str, timeout: float = 30.0) -> None:
        self.address = address
        self.timeout = timeout
        self._target = clamd_target(address)

    def scan(self, content: bytes) -> str | None:
        try:
            reply = self._instream(content)
        except OSError as exc:
            raise ScanUnavailable(f"clamd at {self.address}: {exc}") from exc
        # "stream: OK", "stream: Win.Test.EICAR_HDB-1 FOUND", or "... ERROR" (e.g. StreamMaxLength)
        if reply.endswith(" FOUND"):
            return reply.removeprefix("stream:").removesuffix(" FOUND").strip()
        if reply.endswith(" OK"):
            return None
        raise ScanUnavailable(f"clamd at {self.address}: {reply}")

    def _instream(self, content: bytes) -> str:
        family = socket.AF_UNIX if isinstance(self._target, str) else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            sock.connect(self._target)
            sock.sendall(b"zINSTREAM\0")
            for start in range(0, len(content), self.chunk_size):
                chunk = content[start : start + self.chunk_size]
                sock.sendall(struct.pack(">I", len(chunk)) + chunk)
            sock.sendall(struct.pack(">I", 0))
            reply = b""
            while not reply.endswith(b"\0"):
                part = sock.recv(4096)
                if not part:
                    break
                reply += part
        return reply.rstrip(b"\0").decode("utf-8", "replace").strip()


def clamd_target(address: str) -> str | tuple[str, int]:
    """`/run/clamav/clamd.ctl` (a unix socket) or `host:port`."""
    if "/" in address:
        return address
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"FANGPIN_CLAMD={address!r}: use a unix socket path or host:port")
    return host, int(port)


def scanners() -> list[Scanner]:
    address = env_str("FANGPIN_CLAMD")  # read per upload: no restart needed after installing clamd
    return [EicarScanner(), *([ClamdScanner(address)] if address else [])]


def _scan(content: bytes, actor: Any) -> None:
    for scanner in scanners():
        try:
            found = scanner.scan(content)
        except ScanUnavailable:
            log.exception("virus scan failed; upload refused")  # fail closed: nothing unscanned is kept
            raise Rejected("病毒扫描服务暂不可用，文件未保存，请稍后再上传") from None
        if found:
            record(
                Event.MALWARE_REJECTED,
                actor=actor,
                outcome=Outcome.DENIED,
                object_type="upload",
                object_id=hashlib.sha256(content).hexdigest(),
                reason=found,
                data={"scanner": scanner.name, "size": len(content)},
            )
            raise Rejected("文件含有病毒或恶意代码，已拒收")


# --- images --------------------------------------------------------------------------------------

_PIXELS_MESSAGE = f"图片像素过多（上限 {MAX_PIXELS // 10_000} 万像素），请缩小后重新上传"


def _reencode(content: bytes, kind: Kind) -> bytes:
    """Decode and encode again: only pixels survive (EXIF/GPS, comments, appended data are dropped),
    turned upright first as the EXIF orientation says."""
    pillow_format = "JPEG" if kind is JPEG else "PNG"
    out = io.BytesIO()
    try:
        with Image.open(io.BytesIO(content), formats=[pillow_format]) as image:
            if image.width * image.height > MAX_PIXELS:  # checked on the header, before decoding
                raise Rejected(_PIXELS_MESSAGE)
            upright = ImageOps.exif_transpose(image)
        if kind is JPEG:
            upright = upright if upright.mode in ("L", "RGB") else upright.convert("RGB")
        elif upright.mode not in ("1", "L", "LA", "RGB", "RGBA"):
            upright = upright.convert("RGBA")  # palette transparency becomes alpha
        upright.info = {}  # the encoders would copy comments, ICC profiles and XMP from here
        upright.save(out, format=pillow_format, **({"quality": 90} if kind is JPEG else {}))
    except Image.DecompressionBombError:
        raise Rejected(_PIXELS_MESSAGE) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise Rejected("图片已损坏或无法识别，请重新拍照或扫描") from exc
    return out.getvalue()


# --- PDF -----------------------------------------------------------------------------------------

# Dictionary keys that make a PDF do something when opened: scripts, launched programs, forms that post
# data, embedded files and media. /OpenAction is judged apart (a plain page destination is harmless).
_ACTIVE_KEYS = {
    "/JavaScript": "JavaScript",
    "/JS": "JavaScript",
    "/AA": "自动动作",
    "/Launch": "启动外部程序",
    "/EmbeddedFiles": "嵌入文件",
    "/EmbeddedFile": "嵌入文件",
    "/EF": "嵌入文件",
    "/RichMedia": "多媒体",
    "/XFA": "XFA 表单",
}
_ACTIVE_ACTIONS = {
    "/JavaScript": "JavaScript",
    "/Launch": "启动外部程序",
    "/SubmitForm": "提交表单",
    "/ImportData": "导入数据",
    "/GoToE": "打开嵌入文件",
    "/GoToR": "打开外部文件",
    "/RichMediaExecute": "多媒体",
    "/Rendition": "多媒体",
}


def _check_pdf(content: bytes) -> bytes:
    """Stored as sent once its structure is known to be a plain document of at most 20 pages."""
    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        if reader.is_encrypted:
            raise Rejected("不接受加密或设置了密码的 PDF，请去掉密码后重新上传")
        pages = len(reader.pages)
        problem = _active_content(reader.trailer)
    except Rejected:
        raise
    except Exception as exc:  # any parser failure on untrusted input means "unreadable"
        raise Rejected("PDF 文件已损坏或无法读取，请重新扫描") from exc
    if pages == 0:
        raise Rejected("PDF 文件没有页面")
    if pages > MAX_PDF_PAGES:
        raise Rejected(f"PDF 超过 {MAX_PDF_PAGES} 页（{pages} 页），请只上传承诺授权书")
    if problem:
        raise Rejected(f"PDF 含有{problem}，不予接收：请直接扫描或拍照纸质授权书")
    return content


def _active_content(trailer: DictionaryObject) -> str | None:
    """What active content the document holds, walking every object reachable from the trailer
    (pypdf has already decoded `#xx` escapes in names and unpacked object streams)."""
    seen: set[tuple[int, int]] = set()
    stack: list[PdfObject] = [trailer]
    while stack:
        item = stack.pop()
        if isinstance(item, IndirectObject):
            if (item.idnum, item.generation) in seen:
                continue
            seen.add((item.idnum, item.generation))
            if len(seen) > MAX_PDF_OBJECTS:
                return "过多的对象"
            resolved = item.get_object()
            if resolved is None:
                continue
            item = resolved
        if isinstance(item, DictionaryObject):  # streams too (StreamObject is a DictionaryObject)
            for key, value in dict.items(item):  # unresolved values: references are followed above
                if key in _ACTIVE_KEYS:
                    return _ACTIVE_KEYS[key]
                if key == "/S" and isinstance(value, NameObject) and value in _ACTIVE_ACTIONS:
                    return _ACTIVE_ACTIONS[value]
                if key == "/OpenAction" and not _plain_destination(value):
                    return "打开时自动执行的动作"
                stack.append(value)
        elif isinstance(item, ArrayObject):
            stack.extend(item)
    return None


def _plain_destination(value: PdfObject) -> bool:
    """An /OpenAction that only shows a page (LaTeX and some scanner apps write one)."""
    target = value.get_object()
    if isinstance(target, ArrayObject):
        return True
    return isinstance(target, DictionaryObject) and target.get("/S") == "/GoTo"
