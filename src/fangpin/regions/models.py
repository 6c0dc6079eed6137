"""The administrative tree: province → city → county → township → village, and grids (网格) under villages.

A region's `prefix` is the significant part of its 12-digit statistical code (province "36", county
"360722", village "360722100201"); grids extend their village's prefix with three digits. The subtree of a
region is every row whose prefix starts with its prefix, which is how region scope is applied everywhere.
"""

from __future__ import annotations

from django.db import models


class Level(models.TextChoices):
    PROVINCE = "province", "省"
    CITY = "city", "市"
    COUNTY = "county", "县"
    TOWNSHIP = "township", "乡镇"
    VILLAGE = "village", "村"
    GRID = "grid", "网格"


LEVEL_ORDER = [lvl.value for lvl in Level]
PREFIX_LENGTH = {"province": 2, "city": 4, "county": 6, "township": 9, "village": 12, "grid": 15}


class Region(models.Model):
    prefix = models.CharField("区划代码前缀", max_length=15, primary_key=True)
    name = models.CharField("名称", max_length=100)
    level = models.CharField("层级", max_length=10, choices=Level.choices)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    # "江西省/赣州市/信丰县/嘉定镇" — shown in lists without walking the tree
    full_name = models.CharField("全称", max_length=300, blank=True)

    class Meta:
        verbose_name = "区划"
        ordering = ["prefix"]
        indexes = [models.Index(fields=["level", "prefix"], name="region_level_prefix")]

    def __str__(self) -> str:
        return self.name

    @property
    def code(self) -> str:
        """The 12-digit statistical division code (grids keep their 15-character prefix)."""
        return self.prefix.ljust(12, "0")

    def contains(self, prefix: str) -> bool:
        return prefix.startswith(self.prefix)

    def ancestors(self) -> list[Region]:
        """From the province down to this region's parent, using the prefix structure (one query)."""
        lengths = [n for n in PREFIX_LENGTH.values() if n < len(self.prefix)]
        wanted = [self.prefix[:n] for n in lengths]
        return list(Region.objects.filter(prefix__in=wanted).order_by("prefix"))
