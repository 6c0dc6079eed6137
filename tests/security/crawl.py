"""The crawler of the security suite (#14): every named URL of the resolver (the API's routes included)
as a persona, on the objects the authorisation matrix builds, and the checks every answer must pass.

Only HTTP behaviour is looked at: headers, cookies, the HTML of forms, the text of answers.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from django.apps import apps
from django.http import HttpResponse
from django.urls import Resolver404, get_resolver, resolve, reverse

from conftest import PERSONAS, VILLAGE_A

from ..web.test_scope_matrix import SPECS, Spec, _targets, all_url_names

# The API's routes name their object by its primary key ("1" in the matrix); here they get a real one.
API_KINDS: dict[str, tuple[str, str]] = {
    "api:assistance_plan": ("plan", "pk"),
    "api:assistance_plan_create": ("case", "case_id"),
    "api:assistance_measure_add": ("plan", "pk"),
    "api:assistance_measure_update": ("measure", "pk"),
    "api:assistance_visit_add": ("plan", "pk"),
    "api:leads_detail": ("lead", "pk"),
    "api:leads_accept": ("lead", "pk"),
    "api:leads_reject": ("lead", "pk"),
    "api:cases_detail": ("case", "pk"),
    "api:cases_act": ("case", "pk"),
}

# Values an attacker types into every parameter and field (#14: long, NUL, right-to-left, negative and
# huge numbers, wrong types, SQL/HTML/JS snippets, path traversal).
SCRIPT = "<script>alert('fp')</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
HOSTILE: list[str] = [
    "x" * 100_000,
    "a\x00b",
    "\u202eexe.txt\u202c",
    "-1",
    "-99999999999999999999",
    "99999999999999999999999999",
    "1e309",
    "NaN",
    "' OR '1'='1' --",
    "1); DROP TABLE registry_person; --",
    SCRIPT,
    ATTRIBUTE,
    "javascript:alert(1)",
    "../../../../etc/passwd",
    "..%2f..%2f..%2fetc%2fpasswd",
    "{{ 7|add:7 }}{% debug %}",
    "%s%n%x",
    "",
]
# In a URL path or query, a long value is what a proxy would let through (8 KB lines).
SHORT_HOSTILE = [v if len(v) < 1000 else "x" * 4000 for v in HOSTILE]
# Markers that, found verbatim in an HTML answer, mean a hostile value was echoed unescaped. (Template
# syntax shown as text is harmless; evaluated, {% debug %} would have dumped the context: a 5xx or a leak.)
ECHO_MARKERS = [SCRIPT, ATTRIBUTE]

ID_NUMBER = re.compile(
    r"(?<![0-9])[1-9][0-9]{5}(?:18|19|20)[0-9]{2}[01][0-9][0-3][0-9]{4}[0-9Xx](?![0-9A-Za-z])"
)
STAFF_NAMES = {full_name for _, _, full_name, _ in PERSONAS.values()}
STRICT_REFERRER = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    url: str
    spec: Spec


class Site:
    """The objects of the matrix (built once per test) and each route's URL as seen by one user."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self._made: dict[str, dict[str, tuple[Any, Callable[[Any], bool]]]] = {}

    def targets(self, kind: str) -> dict[str, tuple[Any, Callable[[Any], bool]]]:
        if kind not in self._made:
            self._made[kind] = _targets(self.world, kind)
        return self._made[kind]

    def object_for(self, kind: str, user: Any) -> Any:
        """The object of `kind` this user may see, else the one in our own place."""
        found = self.targets(kind)
        for obj, visible in found.values():
            if user is not None and visible(user):
                return obj
        return found["own"][0]

    def url(self, name: str, user: Any = None) -> str:
        spec = SPECS[name]
        kwargs: dict[str, Any] = dict(spec.extra)
        if name == "warnings:declare":
            from fangpin.regions.models import Region
            from fangpin.warnings.views import village_token

            kwargs["token"] = village_token(Region.objects.get(prefix=VILLAGE_A))
        elif name in API_KINDS:
            kind, key = API_KINDS[name]
            kwargs[key] = self.object_for(kind, user).pk
        elif spec.kind:
            kwargs["prefix" if spec.kind == "region" else "pk"] = self.object_for(spec.kind, user).pk
        return reverse(name, kwargs=kwargs)

    def routes(self, user: Any = None, method: str | None = None) -> list[Route]:
        return [
            Route(name, spec.method, self.url(name, user), spec)
            for name, spec in sorted(SPECS.items())
            if method is None or spec.method == method
        ]


# Who exercises a route in the CSRF and malformed-input tests: the first of these whose role has the
# view's capability (the API checks roles itself; a township reviewer may use all of it but the push).
PREFERENCE = [
    "zhang_township",
    "wang_county",
    "liu_cadre",
    "xiao_grid",
    "chen_analyst",
    "zhao_data",
    "zhou_secadmin",
    "sun_sysadmin",
    "wu_auditor",
]


def persona_for(name: str) -> str:
    needed = getattr(all_url_names()[name], "required_capabilities", ())
    if not needed:
        return PREFERENCE[0]
    from fangpin.accounts.models import User

    for username in PREFERENCE:
        if any(User.objects.get(username=username).can(c) for c in needed):
            return username
    return PREFERENCE[0]


def every_url_name() -> set[str]:
    return set(all_url_names())


# --- reading answers ---------------------------------------------------------------------------------


def body_text(response: HttpResponse) -> str:
    """The readable text of an answer: HTML, JSON and CSV as they are, the cells of an XLSX file."""
    content = b"".join(response.streaming_content) if response.streaming else response.content  # type: ignore[attr-defined]
    if content[:2] == b"PK":
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as book:
                return " ".join(
                    book.read(n).decode("utf-8", "replace") for n in book.namelist() if n.endswith(".xml")
                )
        except zipfile.BadZipFile:
            pass
    return content.decode("utf-8", "replace")


@dataclass
class Form:
    method: str
    action: str
    fields: dict[str, str] = field(default_factory=dict)
    csrf: bool = False


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.links: list[str] = []
        self._open: Form | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and "?" in a.get("href", ""):
            self.links.append(a["href"])
        if tag == "form":
            self._open = Form(a.get("method", "get").lower(), a.get("action", ""))
            self.forms.append(self._open)
        elif self._open is not None and tag in ("input", "textarea", "select", "button") and a.get("name"):
            if a["name"] == "csrfmiddlewaretoken" and a.get("value"):
                self._open.csrf = True
            elif a.get("type") not in ("submit", "checkbox", "radio") or a["name"] not in self._open.fields:
                self._open.fields.setdefault(a["name"], a.get("value", ""))
            self._select = a["name"] if tag == "select" else None
        elif (
            self._open is not None
            and tag == "option"
            and self._select
            and not self._open.fields.get(self._select)
        ):
            self._open.fields[self._select] = a.get("value", "")  # a select's first real option

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None
        elif tag == "select":
            self._select = None


def parse_page(html: str) -> tuple[list[Form], list[str]]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms, parser.links


def get_form_urls(page_url: str, forms: list[Form]) -> list[str]:
    """The URLs a page's GET forms lead to when submitted as they are (a select on its first choice):
    filters, and the downloads that ask for a purpose first."""
    here = urlsplit(page_url).path
    return [
        f"{f.action or here}?{urlencode(f.fields)}"
        for f in forms
        if f.method == "get" and not urlsplit(f.action).netloc
    ]


def route_of(path: str) -> str | None:
    try:
        match = resolve(urlsplit(path).path)
    except Resolver404:
        return None
    return match.view_name


def query_names(page_url: str, forms: list[Form], links: list[str]) -> set[str]:
    """The query parameters a page reads: its GET forms' fields and its links back to itself."""
    here = urlsplit(page_url).path
    names = {n for f in forms if f.method == "get" and (not f.action or f.action == here) for n in f.fields}
    for link in links:
        parts = urlsplit(link)
        if not parts.path or parts.path == here:
            names.update(k for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    return names


# --- the checks every answer must pass ---------------------------------------------------------------


def header_problems(response: HttpResponse, *, signed_in: bool, https: bool = False) -> list[str]:
    found = []
    policy = _directives(response.get("Content-Security-Policy", ""))
    scripts = policy.get("script-src", policy.get("default-src"))
    if scripts is None:
        found.append("no Content-Security-Policy for scripts")
    elif {"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"} & set(scripts):
        found.append(f"script-src allows {scripts}")
    if policy.get("frame-ancestors") != ["'none'"] and response.get("X-Frame-Options") not in (
        "DENY",
        "SAMEORIGIN",
    ):
        found.append("may be framed (no frame-ancestors 'none', no X-Frame-Options)")
    if response.get("X-Content-Type-Options") != "nosniff":
        found.append("no X-Content-Type-Options: nosniff")
    if response.get("Referrer-Policy") not in STRICT_REFERRER:
        found.append(f"Referrer-Policy {response.get('Referrer-Policy')!r}")
    if signed_in and "no-store" not in response.get("Cache-Control", ""):
        found.append(f"signed-in answer cacheable: Cache-Control {response.get('Cache-Control')!r}")
    found += [
        f"{name} names a version: {response[name]}"
        for name in ("Server", "X-Powered-By", "X-Django-Version")
        if name in response and re.search(r"[0-9]", response[name])
    ]
    if https and "max-age=" not in response.get("Strict-Transport-Security", ""):
        found.append("no Strict-Transport-Security under HTTPS")
    return found


def _directives(policy: str) -> dict[str, list[str]]:
    found = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            found[words[0].lower()] = words[1:]
    return found


def cookie_problems(response: HttpResponse, *, https: bool = False) -> list[str]:
    found = []
    for name, morsel in response.cookies.items():
        if not morsel.value and str(morsel["max-age"]) == "0":
            continue  # a deletion
        if not morsel["httponly"]:
            found.append(f"cookie {name} readable by scripts (no HttpOnly)")
        if str(morsel["samesite"]).lower() not in ("lax", "strict"):
            found.append(f"cookie {name} SameSite {morsel['samesite']!r}")
        if https and not morsel["secure"]:
            found.append(f"cookie {name} not Secure under HTTPS")
    return found


def form_problems(html: str) -> list[str]:
    forms, _ = parse_page(html)
    found = [
        f"POST form to {f.action or '(this page)'} without a CSRF token"
        for f in forms
        if f.method == "post" and not f.csrf
    ]
    if re.search(r"\shx-(post|put|patch|delete)=", html) and "X-CSRFToken" not in html:
        found.append("htmx request without the X-CSRFToken header")
    return found


@dataclass(frozen=True)
class Secrets:
    """The personal data of the households in the test world that may only be shown masked."""

    id_numbers: frozenset[str]
    names: frozenset[str]
    phones: frozenset[str]

    @classmethod
    def of_world(cls) -> Secrets:
        from fangpin.registry.models import Person
        from fangpin.warnings.models import Declaration

        people = list(Person.objects.values_list("id_number", "name"))
        declared = list(Declaration.objects.values_list("id_number", "name", "phone"))
        return cls(
            id_numbers=frozenset([i for i, _ in people] + [d[0] for d in declared]),
            # a household member who shares a staff member's name is seen as that staff member
            names=frozenset(
                n for n in [n for _, n in people] + [d[1] for d in declared] if n not in STAFF_NAMES
            ),
            phones=frozenset(d[2] for d in declared),
        )


def masking_problems(text: str, secrets: Secrets) -> list[str]:
    from fangpin.lib import idcard

    found = [f"full ID number {m}" for m in set(ID_NUMBER.findall(text)) if idcard.is_valid(m)]
    found += [
        f"our household's ID number {i}"
        for i in secrets.id_numbers
        if i in text and f"full ID number {i}" not in found
    ]
    found += [f"unmasked name {n}" for n in secrets.names if n in text]
    found += [f"unmasked phone {p}" for p in secrets.phones if p in text]
    return found


def echo_problems(response: HttpResponse, text: str) -> list[str]:
    """A hostile value may come back inside JSON (not HTML to a browser) but never raw in HTML."""
    kind = response.get("Content-Type", "")
    if "html" not in kind:
        return []
    return [f"echoed unescaped: {m!r}" for m in ECHO_MARKERS if m in text]


# --- "GET never changes state" -------------------------------------------------------------------------

# What a read may write: its audit row, the session, the account's last activity, a generated export file.
VOLATILE_MODELS = {"audit.auditevent", "sessions.session", "analytics.exportjob", "assistance.rosterexport"}
VOLATILE_FIELDS = {"last_login", "last_activity", "last_seen"}
# The enrolment page keeps one unconfirmed authenticator key per user so that a reload shows the same QR
# code (accounts/second_factor.enrolment_device): created once, it binds nothing until confirmed by POST.
ONLY_ROWS = {"otp_totp.totpdevice": {"confirmed": True}}


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    state = {}
    for model in apps.get_models():
        label = model._meta.label_lower
        if label in VOLATILE_MODELS:
            continue
        names = [f.attname for f in model._meta.concrete_fields if f.attname not in VOLATILE_FIELDS]
        rows = model._default_manager.filter(**ONLY_ROWS.get(label, {})).order_by("pk")
        state[label] = list(rows.values_list(*names))
    return state


def changed(before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]) -> list[str]:
    return [label for label in before if before[label] != after[label]]


SENTINEL = "7777777"


def path_variants(name: str) -> Iterator[str]:
    """The route's URL with each of its path parameters in turn replaced by hostile values (an int
    parameter by numbers beyond any database integer; anything else does not reach the view)."""
    pattern = _pattern(name)
    converters = pattern.pattern.converters if pattern is not None else {}
    ints = {k for k, c in converters.items() if type(c).__name__ == "IntConverter"}
    defaults = {k: SPECS[name].extra.get(k, "1" if k in ints else "x") for k in converters}
    for key in converters:
        url = reverse(name, kwargs={**defaults, key: SENTINEL})
        values = ["9" * 25, "2147483648", "9223372036854775808"] if key in ints else SHORT_HOSTILE
        yield from (url.replace(SENTINEL, quote(v, safe=""), 1) for v in values if v)


def _pattern(name: str) -> Any:
    found: list[Any] = []

    def walk(patterns: list[Any], ns: str) -> None:
        for p in patterns:
            if hasattr(p, "url_patterns"):
                walk(p.url_patterns, f"{ns}{p.namespace}:" if p.namespace else ns)
            elif p.name and f"{ns}{p.name}" == name:
                found.append(p)

    walk(get_resolver().url_patterns, "")
    return found[0] if found else None
