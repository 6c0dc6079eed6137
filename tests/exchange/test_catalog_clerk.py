"""A catalog a clerk can live with, through the upload page (issue #12 finding 6, issue #14 finding 10):
sane ranges, Chinese labels of codes, an honest status badge, Excel's row numbers, a rejected-rows workbook
that can be corrected and uploaded again, and a template per dataset."""

from __future__ import annotations

import io
import json
import re

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from fangpin.exchange import actions
from fangpin.exchange.models import Delivery, Status
from fangpin.lib import idcard
from fangpin.lib.masking import mask_id_number

FULL_ID = re.compile(r"\d{17}[\dX]")
HEADER = "settlement_id,id_number,settle_date,visit_type,total_cost,basic_paid,critical_paid,assistance_paid,self_pay"

# a valid ID of nobody in the registry (a registry person's broken ID is repaired by linkage, not rejected)
STRANGER = "11010519491231002X"


def settlement(sid: str, pid: str, **kw: str) -> dict[str, str]:
    row = {
        "settlement_id": sid,
        "id_number": pid,
        "settle_date": "2026-08-03",
        "visit_type": "inpatient",
        "total_cost": "50000",
        "basic_paid": "25000",
        "critical_paid": "5000",
        "assistance_paid": "2000",
        "self_pay": "18000",
    }
    row.update(kw)
    return row


def csv_bytes(rows: list[dict[str, str]], header: str = HEADER) -> bytes:
    names = header.split(",")
    lines = [header] + [",".join(r[n] for n in names) for r in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def upload(
    client: Client, name: str, content: bytes, dataset: str = "ms_settlement", period: str = "2026-08"
):  # type: ignore[no-untyped-def]
    return client.post(
        "/exchange/upload/", {"dataset": dataset, "period": period, "file": SimpleUploadedFile(name, content)}
    )


def page_of(client: Client, delivery: Delivery) -> str:
    return client.get(f"/exchange/deliveries/{delivery.pk}/").content.decode()


def stored(dataset: str, period: str = "2026-08") -> list[dict[str, object]]:
    return actions.lake().read(dataset, period).to_pylist()


def test_negative_costs_are_rejected_and_the_badge_says_partly_stored(world, client_for) -> None:
    pid = world.persons["own"].id_number
    rows = [settlement("S1", pid), settlement("S2", pid, total_cost="-100", self_pay="-150")]
    upload(client_for("zhao_data"), "结算.csv", csv_bytes(rows))
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.accepted, delivery.rejected) == (Status.ACCEPTED, 1, 1)
    assert delivery.reasons == {"out_of_range": 1}
    page = page_of(client_for("zhao_data"), delivery)
    assert re.search(r'badge bg-warning-lt" data-testid="delivery-status">部分入库<', page)
    assert "已入库" not in page
    assert "医疗总费用：数值超出允许范围（0～10000000）" in page
    # the rejected row is the second data row: Excel shows it as row 3 (the header is row 1)
    assert re.search(r"<td>3</td><td[^>]*>S2", page)
    assert [r["settlement_id"] for r in stored("ms_settlement")] == ["S1"]


def test_self_pay_above_the_total_is_rejected_with_its_reason(world, client_for) -> None:
    pid = world.persons["own"].id_number
    upload(client_for("zhao_data"), "s.csv", csv_bytes([settlement("S1", pid, self_pay="50000.01")]))
    delivery = Delivery.objects.get()
    assert delivery.reasons == {"exceeds_field": 1} and delivery.accepted == 0
    page = page_of(client_for("zhao_data"), delivery)
    assert "个人自付：超过同一行的关联字段（不应大于医疗总费用）" in page
    assert re.search(r'badge bg-danger-lt" data-testid="delivery-status">未入库<', page)


def test_a_clean_delivery_is_green(world, client_for) -> None:
    upload(client_for("zhao_data"), "s.csv", csv_bytes([settlement("S1", world.persons["own"].id_number)]))
    page = page_of(client_for("zhao_data"), Delivery.objects.get())
    assert re.search(r'badge bg-success-lt" data-testid="delivery-status">已入库<', page)


def test_codes_written_as_their_chinese_labels_are_accepted_and_counted(world, client_for) -> None:
    pid = world.persons["own"].id_number
    header = (
        "结算流水号,公民身份号码,结算日期,就诊类型,医疗总费用,基本医保支付,大病保险支付,医疗救助支付,个人自付"
    )
    rows = [settlement("S1", pid, visit_type="住院"), settlement("S2", pid, visit_type="门诊慢特病")]
    body = "\n".join([header] + [",".join(r.values()) for r in rows]) + "\n"
    upload(client_for("zhao_data"), "中文.csv", body.encode("utf-8"))
    delivery = Delivery.objects.get()
    assert (delivery.accepted, delivery.rejected, delivery.normalized) == (2, 0, {"visit_type": 2})
    assert [r["visit_type"] for r in stored("ms_settlement")] == ["inpatient", "outpatient_chronic"]
    page = page_of(client_for("zhao_data"), delivery)
    assert "2 个值以中文名称填写，已按代码表转换" in page and "部分入库" not in page


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"settle_date": "1800-01-01"}, "date_out_of_range"),
        ({"settle_date": "9999-12-31"}, "date_out_of_range"),
        ({"id_number": "36072219800517\x000015"}, "control_char"),
        ({"id_number": "\u202e510071508910227063"}, "control_char"),
        ({"settlement_id": "S\x002"}, "control_char"),  # the old code stored these two
        ({"settlement_id": "S2\u202e"}, "control_char"),
        ({"settlement_id": "S" * 100_000}, "too_long"),
    ],
)
def test_values_no_department_sends_never_reach_the_lake(world, client_for, change, code: str) -> None:
    pid = world.persons["own"].id_number
    rows = [settlement("S1", pid), settlement("S2", pid, **change)]
    upload(client_for("zhao_data"), "s.csv", csv_bytes(rows))
    delivery = Delivery.objects.get()
    assert delivery.reasons == {code: 1} and delivery.accepted == 1
    assert [r["settlement_id"] for r in stored("ms_settlement")] == ["S1"]  # screening reads the lake
    page = page_of(client_for("zhao_data"), delivery)
    assert "\x00" not in page and "\u202e" not in page and "S" * 1000 not in page


def test_a_period_still_to_come_is_refused_everywhere(world, client_for) -> None:
    pid = world.persons["own"].id_number
    response = upload(client_for("zhao_data"), "s.csv", csv_bytes([settlement("S1", pid)]), period="2099-12")
    assert response.status_code == 200 and "期次2099-12晚于当前月份" in response.content.decode()
    assert not Delivery.objects.exists()
    with pytest.raises(actions.ExchangeError, match="晚于当前月份"):
        actions.check_request("ms_settlement", "2099-12")


def test_push_api_refuses_a_future_period_and_names_rejected_rows(world) -> None:
    from fangpin.accounts.models import User

    _, token = actions.create_token(
        department="medical_security", name="推送", actor=User.objects.get(username="zhou_secadmin")
    )
    pid = world.persons["own"].id_number

    def push(period: str, rows: list[dict[str, str]]):  # type: ignore[no-untyped-def]
        return Client().post(
            "/api/v1/exchange/events/ms_settlement",
            data=json.dumps({"period": period, "rows": rows}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )

    refused = push("2099-12", [settlement("S1", pid)])
    assert refused.status_code == 400 and "晚于当前月份" in refused.json()["detail"]
    done = push("2026-08", [settlement("S1", pid), settlement("S2", pid, settle_date="9999-12-31")]).json()
    assert done["accepted"] == 1
    assert [(r["index"], r["reason_code"]) for r in done["rejected_rows"]] == [(1, "date_out_of_range")]


def _xlsx(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_row_numbers_are_excels_for_xlsx_in_pages_and_reports(world, client_for) -> None:
    pid = world.persons["own"].id_number
    good, bad = settlement("S1", pid), settlement("S2", idcard.with_wrong_check_char(STRANGER))
    upload(
        client_for("zhao_data"), "s.xlsx", _xlsx([HEADER.split(","), list(good.values()), list(bad.values())])
    )
    delivery = Delivery.objects.get()
    assert delivery.rejected == 1
    assert re.search(r"<td>3</td>", page_of(client_for("zhao_data"), delivery))
    report = client_for("zhao_data").get(
        f"/exchange/deliveries/{delivery.pk}/report.xlsx", {"purpose": "review"}
    )
    detail = list(openpyxl.load_workbook(io.BytesIO(report.content))["拒收明细"].iter_rows(values_only=True))
    assert detail[0][:2] == ("Excel行号", "字段") and detail[0][5] == "结算流水号（记录键）"
    assert detail[1][0] == 3 and detail[1][1] == "id_number" and detail[1][5] == "S2"
    assert not FULL_ID.search(str(detail))


def _corrections(client: Client, delivery: Delivery) -> openpyxl.Workbook:
    response = client.get(f"/exchange/deliveries/{delivery.pk}/rejected.xlsx")
    assert response.status_code == 200
    return openpyxl.load_workbook(io.BytesIO(response.content))


def _saved(book: openpyxl.Workbook) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_rejected_rows_are_corrected_and_uploaded_again_without_duplicates(
    world, client_for, audit_rows
) -> None:
    client = client_for("zhao_data")
    pid, other = world.persons["own"].id_number, world.persons["sibling"].id_number
    rows = [
        settlement("S1", pid),
        settlement("S2", idcard.with_wrong_check_char(STRANGER)),
        settlement("S3", pid, total_cost="-100", self_pay="-150"),
    ]
    upload(client, "s.csv", csv_bytes(rows))
    first = Delivery.objects.get()
    book = _corrections(client, first)
    sheet = book.worksheets[0]
    lines = list(sheet.iter_rows(values_only=True))
    assert lines[0][:3] == ("原文件行号", "拒收原因（上传时忽略）", "结算流水号(settlement_id)")
    assert [line[0] for line in lines[1:]] == [3, 4]  # Excel rows in the delivered file
    assert lines[1][3] == mask_id_number(idcard.with_wrong_check_char(STRANGER))  # masked, never the full ID
    assert not FULL_ID.search(str(lines)) and audit_rows("EXPORT")[-1].data["kind"] == "rejected_rows"
    # the clerk types the right ID for S2 and fixes S3's amounts, leaving S3's masked ID as it was
    sheet.cell(row=2, column=4, value=other)
    sheet.cell(row=3, column=7, value=50000)  # typed as a number, as Excel would keep it
    sheet.cell(row=3, column=11, value="18000")
    upload(client, "更正.xlsx", _saved(book))
    second = Delivery.objects.exclude(pk=first.pk).get()
    assert (second.status, second.read, second.accepted, second.rejected) == (Status.ACCEPTED, 2, 2, 0)
    lake_rows = {r["settlement_id"]: r for r in stored("ms_settlement")}
    assert sorted(lake_rows) == ["S1", "S2", "S3"]
    assert lake_rows["S2"]["id_number"] == other and lake_rows["S3"]["id_number"] == pid  # restored
    assert str(lake_rows["S3"]["total_cost"]) == "50000.00"
    assert audit_rows("UPLOAD")[-1].data["corrects"] == first.pk
    # the same correction again stores nothing twice
    upload(client, "更正.xlsx", _saved(book))
    assert sorted(r["settlement_id"] for r in stored("ms_settlement")) == ["S1", "S2", "S3"]


def test_a_corrected_snapshot_keeps_the_rows_stored_before(world, client_for) -> None:
    client = client_for("zhao_data")
    pid, other = world.persons["own"].id_number, world.persons["sibling"].id_number
    body = f"id_number,year,insured,subsidized\n{pid},2026,是,否\n{other},1999,true,false\n".encode()
    upload(client, "参保.csv", body, dataset="ms_enrollment")
    first = Delivery.objects.get()
    assert first.reasons == {"out_of_range": 1}
    book = _corrections(client, first)
    book.worksheets[0].cell(row=2, column=4, value="2026")
    upload(client, "参保更正.xlsx", _saved(book), dataset="ms_enrollment")
    second = Delivery.objects.exclude(pk=first.pk).get()
    assert (second.accepted, second.rejected) == (2, 0)
    snapshot = stored("ms_enrollment")
    assert sorted(r["id_number"] for r in snapshot) == sorted([pid, other])


def test_a_correction_workbook_goes_to_its_own_dataset_and_department(world, client_for) -> None:
    client = client_for("zhao_data")
    pid = world.persons["own"].id_number
    upload(client, "s.csv", csv_bytes([settlement("S1", pid, total_cost="-1")]))
    book = _corrections(client, Delivery.objects.get())
    response = upload(client, "x.xlsx", _saved(book), period="2026-07")
    assert "请选择相同的数据集和期次" in response.content.decode()
    assert Delivery.objects.count() == 1


def test_the_template_has_two_language_headers_dropdowns_and_imports(world, client_for) -> None:
    client = client_for("zhao_data")
    assert 'data-testid="template-ms_settlement"' in client.get("/exchange/").content.decode()
    response = client.get("/exchange/catalog/ms_settlement/template.xlsx")
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header[:2] == ["结算流水号(settlement_id)", "公民身份号码(id_number)"]
    lists = {str(dv.sqref).split(":")[0]: dv.formula1 for dv in sheet.data_validations.dataValidation}
    assert lists["D2"] == '"住院,门诊慢特病"'
    notes = {row[1]: row for row in book["字段说明"].iter_rows(min_row=2, values_only=True)}
    assert "不大于医疗总费用" in notes["self_pay"][4] and "范围 0～10000000" in notes["total_cost"][4]
    assert client.get("/exchange/catalog/nothing/template.xlsx").status_code == 404
    # filled in as a clerk would (labels from the drop-down) it imports as is
    sheet.append(list(settlement("S1", world.persons["own"].id_number, visit_type="住院").values()))
    upload(client, "模板.xlsx", _saved(book))
    delivery = Delivery.objects.get()
    assert (delivery.accepted, delivery.rejected, delivery.normalized) == (1, 0, {"visit_type": 1})
