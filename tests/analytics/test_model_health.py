"""The model health card: predicted vs confirmed per month in scope, the active model, drift (ADR 0030)."""

from __future__ import annotations

from pathlib import Path

from fangpin.pipeline.model import shipped_model, store_model
from fangpin.warnings.models import Channel, Lead, LeadKind, Outcome

A, B = "360722100200", "360722101200"


def _warning(village: str, period: str, score: float, outcome: str = "", model: str = "m1") -> None:
    Lead.objects.create(
        village_id=village,
        channel=Channel.DEPARTMENT,
        kind=LeadKind.VERIFY,
        period=period,
        score=score,
        model_version=model,
        outcome=outcome,
        status="closed" if outcome else "new",
    )


def _trained_model(home: Path) -> str:
    """A stored 'history' version carrying validation figures and drift, made active."""
    model = shipped_model()
    model.meta = {
        **model.meta,
        "version": "county-20261201-abc",
        "created_at": "2026-12-01T08:00:00+00:00",
        "label_source": "history",
        "activation": {"active": True, "why": "80%召回所需预警 2.10 < 3.40", "champion": "jx"},
        "validation": {
            "periods": ["2026-08", "2026-09"],
            "challenger": {"per_found_80": 2.1, "per_found_90": 4.0, "recall_top_k": 0.6, "positives": 50},
            "champion": {"per_found_80": 3.4, "per_found_90": 6.5, "recall_top_k": 0.5},
            "rules": {"per_found_80": 7.2, "per_found_90": 12.0, "recall_top_k": 0.4},
        },
        "drift": {
            "period": "2026-11",
            "features": [
                {"feature": "net_income_ratio", "label": "人均纯收入与监测线之比", "gain": 0.3, "psi": 0.31},
                {"feature": "medical_share", "label": "医疗自付占家庭收入比例", "gain": 0.1, "psi": 0.02},
            ],
        },
    }
    store_model(home / "models", model)
    return str(model.meta["version"])


def test_an_analyst_sees_predicted_against_confirmed_per_month_and_the_drift(
    world, client_for, settings, tmp_path: Path
) -> None:
    settings.FANGPIN_HOME = tmp_path
    version = _trained_model(tmp_path)
    _warning(A, "2026-10", 0.6, Outcome.CONFIRMED)
    _warning(A, "2026-10", 0.3, Outcome.NOT_CONFIRMED)
    _warning(A, "2026-10", 0.1)
    _warning(B, "2026-10", 0.9, Outcome.CONFIRMED)  # another township: outside zhang's card
    _warning(A, "2026-09", 2.5, Outcome.CONFIRMED, model="")  # ranked by the rules: no prediction
    page = client_for("zhang_township").get("/analytics/region/360722100/model/")
    assert page.status_code == 200
    html = page.content.decode()
    assert version in html and "2026-12-01" in html and "本县名册转入监测与核实结果" in html
    months = html.split('data-testid="model-health-months"')[1].split("</table>")[0]
    row = months.split("<td>2026-10</td>")[1].split("</tr>")[0]
    # 3 pushed, the model expected 1.0 confirmations, 2 decided, 1 confirmed (B's warning not counted)
    assert [c.split(">")[-1] for c in row.split("</td>")[:5]] == ["3", "1.0", "2", "1", "33%"]
    assert "—（规则排序）" in months.split("<td>2026-09</td>")[1].split("</tr>")[0]
    drift = html.split('data-testid="model-health-drift"')[1].split("</table>")[0]
    assert "人均纯收入与监测线之比" in drift and "明显变化" in drift and "稳定" in drift
    assert "2.10" in html.split('data-testid="model-health-validation"')[1]


def test_the_shipped_default_is_named_as_such_before_any_training(
    world, client_for, settings, tmp_path: Path
) -> None:
    settings.FANGPIN_HOME = tmp_path
    html = client_for("chen_analyst").get("/analytics/region/360722/model/").content.decode()
    assert "出厂默认模型" in html and "暂无漂移记录" in html and "本区域尚无部门筛查预警" in html


def test_the_card_of_a_region_out_of_scope_is_a_404(world, client_for, settings, tmp_path: Path) -> None:
    settings.FANGPIN_HOME = tmp_path
    client = client_for("zhang_township")
    assert client.get("/analytics/region/360722/model/").status_code == 404
    assert client.get(f"/analytics/region/{B}/model/").status_code == 404
    assert client_for("xiao_grid").get(f"/analytics/region/{A}/model/").status_code in (403, 404)


def test_the_dashboard_links_to_the_card(world, client_for) -> None:
    from fangpin.analytics.refresh import refresh_month

    from .factory import at, monitored_via_warning

    monitored_via_warning(A, found="2026-10-02", decided="2026-10-10")
    refresh_month("2026-10", now=at("2026-11-05"))
    html = client_for("wang_county").get("/analytics/region/360722/?month=2026-10").content.decode()
    assert 'href="/analytics/region/360722/model/"' in html
