"""An XLSX bomb uploaded through the page (security issue #14, finding 7): refused with a Chinese reason in
the delivery, nothing else lost, the job finished at once rather than holding the only worker."""

from __future__ import annotations

import tracemalloc

from django.core.files.uploadedfile import SimpleUploadedFile

from conftest import make_id
from fangpin.exchange.models import Delivery, Status
from pipeline.xlsx_bombs import cell_row, repeated, sheet


def _upload(client, name: str, content: bytes):  # type: ignore[no-untyped-def]
    return client.post(
        "/exchange/upload/",
        {"dataset": "ms_settlement", "period": "2026-08", "file": SimpleUploadedFile(name, content)},
    )


def test_an_uploaded_xlsx_bomb_is_refused_with_a_reason_and_loses_nothing(
    world, client_for, settings, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    client = client_for("zhao_data")
    header = "settlement_id,id_number,settle_date,visit_type,total_cost,basic_paid,critical_paid,assistance_paid,self_pay"
    good = f"{header}\nS1,{make_id()},2026-08-01,inpatient,50000,25000,5000,2000,18000\n".encode()
    _upload(client, "s.csv", good)
    before = Delivery.objects.get()
    assert before.status == Status.ACCEPTED

    bomb = sheet(tmp_path / "bomb.xlsx", repeated(cell_row("S1", "x", "2026-08-01"), 1_000_000)).read_bytes()
    tracemalloc.start()
    try:
        response = _upload(client, "结算.xlsx", bomb)  # the test task backend runs the import right here
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    refused = Delivery.objects.exclude(pk=before.pk).get()
    assert response.status_code == 302 and refused.status == Status.REJECTED_WHOLE
    assert "压缩炸弹" in refused.message and refused.finished_at is not None
    assert peak < 30 << 20  # the 49 MB sheet was never unpacked
    page = client.get(f"/exchange/deliveries/{refused.pk}/").content.decode()
    assert "压缩炸弹" in page
    before.refresh_from_db()
    assert before.status == Status.ACCEPTED and before.accepted == 1
    assert not any(settings.FANGPIN_INCOMING.iterdir())
