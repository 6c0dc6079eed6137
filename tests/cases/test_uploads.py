"""Upload safety of the signed 承诺授权书 (SECURITY.md FILE-01) and its download (FILE-02), through the
phone page, the JSON API and the check itself."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import socket
import struct
import tempfile
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import ExifTags, Image
from pypdf import PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject

from fangpin.cases import uploads
from fangpin.cases.models import Case, CaseStep

from .conftest import PNG, VISIT

pytestmark = pytest.mark.django_db


# --- files ---------------------------------------------------------------------------------------


def _jpeg_with_exif_and_php() -> bytes:
    """A real 40×20 photo taken 'on its side' (orientation 6), with GPS in its EXIF, PHP in its comment
    segment and PHP appended after the end of the image: a polyglot that any JPEG viewer opens."""
    image = Image.new("RGB", (40, 20), (200, 30, 30))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "PhoneMaker"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (25.0, 23.0, 10.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, comment=b"<?php system($_GET['c']); ?>")
    return out.getvalue() + b"<?php echo shell_exec($_GET['x']); ?>"


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims a size and carries almost no pixels: a decoder learns the size from the header
    and would then allocate width × height pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def _pdf(pages: int = 1, change: Any = None) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    if change is not None:
        change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _javascript(writer: PdfWriter) -> None:
    """Document-level JavaScript (the /Names /JavaScript tree), run by a viewer when the file opens."""
    script = DictionaryObject(
        {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert('x');")}
    )
    tree = DictionaryObject({NameObject("/Names"): ArrayObject([TextStringObject("x"), script])})
    writer._root_object[NameObject("/Names")] = DictionaryObject({NameObject("/JavaScript"): tree})


def _launch(writer: PdfWriter) -> None:
    action = DictionaryObject(
        {NameObject("/S"): NameObject("/Launch"), NameObject("/F"): TextStringObject("calc.exe")}
    )
    writer._root_object[NameObject("/OpenAction")] = action


EICAR = uploads.EICAR  # the standard 68-byte test string (kept split in the source)


# --- helpers -------------------------------------------------------------------------------------


def _post_visit(client: Any, case: Case, name: str, content: bytes) -> Any:
    data: dict[str, Any] = {k: v for k, v in VISIT.items() if not isinstance(v, bool)}
    data.update({k: "on" for k, v in VISIT.items() if v is True})
    data["version"] = str(case.version)
    data["authorization"] = SimpleUploadedFile(name, content)
    return client.post(f"/cases/{case.pk}/act/submit_visit/", data)


def _stored_files(settings: Any) -> list[Path]:
    return [p for p in Path(settings.FANGPIN_MEDIA).rglob("*") if p.is_file()]


def _stored(case: Case) -> CaseStep:
    step = CaseStep.objects.get(case=case, action="submit_visit")
    assert step.attachment
    return step


def _upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


# --- FILE-01: what is refused --------------------------------------------------------------------


def test_a_php_script_named_jpg_is_refused_and_nothing_is_stored(walk, client_for, settings) -> None:
    case = walk("verifying")
    response = _post_visit(client_for("xiao_grid"), case, "evil.jpg", b"<?php system($_GET['c']); ?>")
    assert response.status_code == 400 and "只接受 JPG、PNG 或 PDF" in response.content.decode()
    assert Case.objects.get(pk=case.pk).state == "verifying"
    assert _stored_files(settings) == []


def test_a_file_over_10_mb_is_refused_on_the_page_and_in_the_api(walk, client_for, settings) -> None:
    case = walk("verifying")
    big = PNG + b"\0" * (11 * 1024 * 1024)
    page = _post_visit(client_for("xiao_grid"), case, "授权书.png", big)
    assert page.status_code == 400 and "文件超过 10MB" in page.content.decode()
    api = client_for("xiao_grid").post(
        f"/api/v1/cases/{case.pk}/actions/submit_visit",
        json.dumps(
            {"version": case.version, "data": VISIT, "authorization_base64": base64.b64encode(big).decode()}
        ),
        content_type="application/json",
    )
    assert api.status_code in (400, 413)
    assert Case.objects.get(pk=case.pk).state == "verifying" and _stored_files(settings) == []


def test_eicar_is_refused_as_malware_with_an_audit_row_and_nothing_is_stored(
    walk, client_for, world, audit_rows, settings
) -> None:
    case = walk("verifying")
    response = _post_visit(client_for("xiao_grid"), case, "授权书.pdf", EICAR)
    assert response.status_code == 400 and "病毒或恶意代码" in response.content.decode()
    [row] = audit_rows("MALWARE_REJECTED")
    assert row.actor_id == world.users["xiao_grid"].pk and row.outcome == "denied"
    assert row.reason == "Eicar-Test-Signature" and len(row.object_id) == 64  # the file's SHA-256
    assert Case.objects.get(pk=case.pk).state == "verifying" and _stored_files(settings) == []


def test_eicar_hidden_in_a_valid_png_sent_through_the_api_is_refused_and_audited(
    walk, client_for, audit_rows, settings
) -> None:
    case = walk("verifying")
    body = {
        "version": case.version,
        "data": VISIT,
        "authorization_base64": base64.b64encode(PNG + EICAR).decode(),
    }
    response = client_for("xiao_grid").post(
        f"/api/v1/cases/{case.pk}/actions/submit_visit", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 400 and "病毒或恶意代码" in response.json()["detail"]
    assert len(audit_rows("MALWARE_REJECTED")) == 1 and _stored_files(settings) == []


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("授权书.pdf", PNG, "与文件内容（PNG）不符"),
        ("授权书.php", PNG, "扩展名（.php）"),
        ("授权书.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 200, "图片已损坏"),
        ("授权书.png", b"", "文件是空的"),
        ("bomb.png", _png_header(100_000, 100_000), "像素过多"),  # Pillow's own bomb guard
        ("huge.png", _png_header(8_000, 6_000), "像素过多"),  # 48 megapixels: our limit, header only
    ],
)
def test_the_check_refuses_with_a_reason_the_user_can_act_on(name: str, content: bytes, message: str) -> None:
    with pytest.raises(uploads.Rejected, match=re.escape(message)):
        uploads.accept(_upload(name, content), actor=None)


def test_a_decompression_bomb_is_a_400_with_the_reason_not_a_server_error(walk, client_for) -> None:
    case = walk("verifying")
    response = _post_visit(client_for("xiao_grid"), case, "授权书.png", _png_header(100_000, 100_000))
    assert response.status_code == 400 and "像素过多" in response.content.decode()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (_pdf(pages=21), "超过 20 页"),
        (_pdf(change=_javascript), "JavaScript"),
        (_pdf(change=lambda w: w.add_attachment("payload.exe", b"MZ")), "嵌入文件"),
        (_pdf(change=_launch), "打开时自动执行的动作"),
        (_pdf(change=lambda w: w.encrypt("secret")), "加密"),
        (b"%PDF-1.7\n" + b"\x00garbage" * 50, "已损坏"),
    ],
    ids=["21-pages", "javascript", "embedded-file", "launch", "encrypted", "garbage"],
)
def test_a_pdf_with_active_content_too_many_pages_or_a_password_is_refused(
    content: bytes, message: str
) -> None:
    with pytest.raises(uploads.Rejected, match=re.escape(message)):
        uploads.accept(_upload("授权书.pdf", content), actor=None)


def test_javascript_spelled_with_escapes_in_a_pdf_is_found() -> None:
    """`/J#61vaScript` is `/JavaScript`: the names are compared after the PDF parser decoded them."""
    plain = _pdf(change=_javascript)
    assert b"/JavaScript" in plain
    escaped = plain.replace(b"/JavaScript", b"/J#61vaScript")
    with pytest.raises(uploads.Rejected, match="JavaScript"):
        uploads.accept(_upload("授权书.pdf", escaped), actor=None)


# --- FILE-01: what is kept, and how --------------------------------------------------------------


def test_a_photo_is_re_encoded_upright_without_exif_gps_or_the_php_inside(walk, client_for) -> None:
    original = _jpeg_with_exif_and_php()
    with Image.open(io.BytesIO(original)) as sent:  # the test file really carries what we strip
        assert sent.getexif().get_ifd(ExifTags.IFD.GPSInfo) and b"<?php" in original
    case = walk("verifying")
    response = _post_visit(client_for("xiao_grid"), case, "IMG_0001.jpg", original)
    assert response.status_code == 302
    step = _stored(case)
    with step.attachment.open("rb") as handle:
        stored = handle.read()
    assert b"<?php" not in stored and b"Exif" not in stored and b"PhoneMaker" not in stored
    with Image.open(io.BytesIO(stored)) as kept:
        assert kept.format == "JPEG" and not kept.getexif() and "comment" not in kept.info
        assert kept.size == (20, 40)  # turned upright as the orientation tag said, before it was dropped
    assert step.attachment_type == "image/jpeg"


def test_a_path_in_the_file_name_does_not_reach_the_storage(walk, client_for, settings) -> None:
    case = walk("verifying")
    response = _post_visit(client_for("xiao_grid"), case, "../../etc/passwd.pdf", _pdf())
    assert response.status_code == 302
    step = _stored(case)
    assert re.fullmatch(r"cases/\d{4}/\d{2}/[0-9a-f]{32}\.pdf", str(step.attachment.name))
    root = Path(settings.FANGPIN_MEDIA).resolve()
    path = Path(step.attachment.path).resolve()
    assert path.is_relative_to(root) and path.read_bytes().startswith(b"%PDF-")
    assert not path.stat().st_mode & 0o111  # never executable
    assert step.data["attachment_name"] == "passwd.pdf"  # metadata only


def test_a_plain_pdf_is_kept_as_sent() -> None:
    document = _pdf(pages=20)
    assert uploads.accept(_upload("授权书.pdf", document), actor=None).content == document


def test_a_pdf_that_opens_on_its_first_page_is_not_active_content() -> None:
    def first_page(writer: PdfWriter) -> None:
        page = writer.pages[0].indirect_reference
        writer._root_object[NameObject("/OpenAction")] = ArrayObject([page, NameObject("/Fit")])

    assert uploads.accept(_upload("scan.pdf", _pdf(change=first_page)), actor=None).kind is uploads.PDF


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("..\\..\\Windows\\win.ini.pdf", "win.ini.pdf"),
        ("张三\u202egpj.pdf", "张三gpj.pdf"),  # a right-to-left override would disguise the extension
        ("a\x00b\r\n.pdf", "ab.pdf"),
    ],
)
def test_the_original_name_is_reduced_to_a_harmless_label(sent: str, kept: str) -> None:
    assert uploads.clean_name(sent) == kept


def test_each_upload_gets_its_own_random_name() -> None:
    first = uploads.accept(_upload("授权书.png", PNG), actor=None)
    second = uploads.accept(_upload("授权书.png", PNG), actor=None)
    assert first.stored_name != second.stored_name
    assert re.fullmatch(r"[0-9a-f]{32}\.png", first.stored_name)


# --- clamd (optional): the INSTREAM protocol against a small fake daemon --------------------------


@pytest.fixture
def fake_clamd() -> Iterator[str]:
    """A unix-socket server speaking clamd's INSTREAM: FOUND when the stream holds b'EVIL-SAMPLE'."""
    folder = tempfile.mkdtemp(prefix="clamd-")  # short path: unix socket names are limited to ~100 bytes
    path = os.path.join(folder, "clamd.ctl")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as stream:
                assert stream.read(10) == b"zINSTREAM\0"
                data = b""
                while size := struct.unpack(">I", stream.read(4))[0]:
                    data += stream.read(size)
                verdict = b"stream: Test.Evil-Sample FOUND" if b"EVIL-SAMPLE" in data else b"stream: OK"
                conn.sendall(verdict + b"\0")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path
    server.close()
    thread.join(timeout=5)
    os.unlink(path)
    os.rmdir(folder)


def test_with_clamd_configured_its_verdict_decides_and_a_finding_is_audited(
    fake_clamd, monkeypatch, world, audit_rows
) -> None:
    monkeypatch.setenv("FANGPIN_CLAMD", fake_clamd)
    assert uploads.accept(_upload("授权书.png", PNG), actor=world.users["xiao_grid"]).kind is uploads.PNG
    with pytest.raises(uploads.Rejected, match="病毒或恶意代码"):
        uploads.accept(_upload("授权书.png", PNG + b"EVIL-SAMPLE"), actor=world.users["xiao_grid"])
    [row] = audit_rows("MALWARE_REJECTED")
    assert row.reason == "Test.Evil-Sample" and row.data["scanner"] == "clamd"


def test_an_unreachable_clamd_refuses_the_upload_rather_than_keeping_it_unscanned(
    monkeypatch, audit_rows
) -> None:
    monkeypatch.setenv("FANGPIN_CLAMD", "/nonexistent/clamd.ctl")
    with pytest.raises(uploads.Rejected, match="病毒扫描服务暂不可用"):
        uploads.accept(_upload("授权书.png", PNG), actor=None)
    assert audit_rows("MALWARE_REJECTED") == []


def test_a_malformed_clamd_address_stops_the_start(monkeypatch) -> None:
    from fangpin.cases.checks import clamd_address

    monkeypatch.setenv("FANGPIN_CLAMD", "clamav-host")
    assert [e.id for e in clamd_address(None)] == ["fangpin.E011"]
    monkeypatch.setenv("FANGPIN_CLAMD", "127.0.0.1:3310")
    assert clamd_address(None) == []


# --- FILE-02: the download -----------------------------------------------------------------------


def test_the_scan_is_downloaded_as_an_attachment_with_safe_headers(walk, client_for) -> None:
    case = walk("village_review")  # the visit with its scan is behind it
    response = client_for("zhang_township").get(f"/cases/{case.pk}/authorization/")
    assert response.status_code == 200 and response.content.startswith(b"\x89PNG")
    assert response["Content-Type"] == "image/png"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;") and "filename*=utf-8''" in disposition
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "no-store"


def test_a_township_reviewer_of_another_township_gets_404_and_an_audit_row(
    walk, client_for, audit_rows
) -> None:
    case = walk("village_review")
    response = client_for("li_township_b").get(f"/cases/{case.pk}/authorization/")
    assert response.status_code == 404
    [row] = audit_rows("ACCESS_DENIED", object_type="case", object_id=str(case.pk))
    assert row.actor_username == "li_township_b"
    assert audit_rows("CASE_ATTACHMENT_VIEWED") == []


def test_the_storage_is_not_served_directly(walk, client_for) -> None:
    case = walk("village_review")
    name = _stored(case).attachment.name
    for url in (f"/media/{name}", f"/static/../media/{name}", f"/{name}"):
        assert client_for("zhang_township").get(url).status_code == 404


def test_the_json_api_accepts_a_body_carrying_the_largest_scan_as_base64() -> None:
    from django.conf import settings

    from fangpin.cases.uploads import MAX_BYTES

    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE >= MAX_BYTES * 4 // 3 + 64 * 1024
