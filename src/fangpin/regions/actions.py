"""State changes of the region tree; each writes its audit row in the same transaction."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from django.db import transaction

from fangpin.audit.actions import record
from fangpin.audit.events import Event
from fangpin.lib import divisions
from fangpin.lib.text import control_characters
from fangpin.regions.models import Level, Region


class RegionError(ValueError):
    pass


@transaction.atomic
def load_divisions(
    within: str,
    data_dir: Path | None = None,
    actor: object | None = None,
    progress: Callable[[int], object] | None = None,
) -> dict[str, int]:
    """Load (or refresh) the official divisions under a province or county prefix. Idempotent:
    names are updated in place, nothing is deleted (households may point at a renamed village)."""
    if not within.isdigit() or len(within) not in (2, 4, 6):
        raise RegionError(f"区划代码前缀应为2位(省)、4位(市)或6位(县)数字: {within!r}")
    rows = list(divisions.read(within, data_dir))
    if not any(r.prefix.startswith(within) for r in rows):
        raise RegionError(f"区划数据中没有以 {within} 开头的区划")
    existing = {r.prefix: r for r in Region.objects.filter(prefix__in=[r.prefix for r in rows])}
    names: dict[str, str] = {p: r.full_name for p, r in existing.items()}
    created = updated = 0
    batch: list[Region] = []
    for row in rows:  # top-down, so a parent's full name is known before its children
        full = f"{names[row.parent_prefix]}/{row.name}" if row.parent_prefix in names else row.name
        names[row.prefix] = full
        current = existing.get(row.prefix)
        if current is None:
            batch.append(
                Region(
                    prefix=row.prefix,
                    name=row.name,
                    level=row.level,
                    parent_id=row.parent_prefix,
                    full_name=full,
                )
            )
            created += 1
        elif current.name != row.name or current.full_name != full:
            current.name, current.full_name = row.name, full
            current.save(update_fields=["name", "full_name"])
            updated += 1
        if len(batch) >= 5000:
            Region.objects.bulk_create(batch)
            batch.clear()
        if progress:
            progress(1)
    Region.objects.bulk_create(batch)
    counts = {"read": len(rows), "created": created, "updated": updated}
    record(Event.REGIONS_LOADED, actor=actor, object_type="region", object_id=within, data=counts)
    return counts


@transaction.atomic
def create_grid(village: Region, name: str, actor: object | None = None) -> Region:
    """A grid (网格) under a village; its prefix is the village prefix plus a 3-digit sequence."""
    if village.level != Level.VILLAGE:
        raise RegionError("网格只能建在村（社区）下")
    name = _grid_name(name)
    taken = Region.objects.filter(parent=village, level=Level.GRID).values_list("prefix", flat=True)
    sequence = max((int(p[-3:]) for p in taken), default=0) + 1
    if sequence > 999:
        raise RegionError("一个村最多999个网格")
    grid = Region.objects.create(
        prefix=f"{village.prefix}{sequence:03d}",
        name=name,
        level=Level.GRID,
        parent=village,
        full_name=f"{village.full_name}/{name}",
    )
    record(Event.GRID_CREATED, actor=actor, object_type="region", object_id=grid.prefix, data={"name": name})
    return grid


def _grid_name(name: str) -> str:
    """A grid's name as typed, or RegionError: the database column's length (PostgreSQL refuses a longer
    one with an error page) and no control characters (a right-to-left override disguises a name)."""
    name = name.strip()
    if not name:
        raise RegionError("网格名称不能为空")
    longest = Region._meta.get_field("name").max_length or 0
    if len(name) > longest:
        raise RegionError(f"网格名称不能超过{longest}个字")
    if control_characters(name):
        raise RegionError("网格名称含有不可见的控制字符（如换行、从右向左标记），请删除后重新输入")
    return name


@transaction.atomic
def rename_grid(grid: Region, name: str, actor: object | None = None) -> Region:
    if grid.level != Level.GRID:
        raise RegionError("只有网格可以在系统内改名；官方区划随区划代码更新")
    name = _grid_name(name)
    old = grid.name
    grid.name = name
    grid.full_name = grid.full_name.rsplit("/", 1)[0] + "/" + name
    grid.save(update_fields=["name", "full_name"])
    record(
        Event.GRID_RENAMED,
        actor=actor,
        object_type="region",
        object_id=grid.prefix,
        data={"old": old, "new": name},
    )
    return grid
