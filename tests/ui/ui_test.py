"""The web UI in headless Chromium, against a real tracekeep-server.

Seeds DM traces over pb.Tracer (gRPC) and Zipkin spans over POST
/api/v2/spans, then clicks through every page: search -> trace -> span
detail, the DM list -> timeline -> delete, dependencies, status. Asserts
what is visible; fails on any console error, page error, failed request,
HTTP error answer or JavaScript dialog. Run by tests/ui/ui-test.sh.
"""

import argparse
import json
import os
import random
import re
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import grpc
from playwright.sync_api import sync_playwright

import tracer_pb2
import tracer_pb2_grpc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import server_process  # noqa: E402  (tests/server_process.py)

DEADLINE_SECONDS = 30
# Text that must show as text: markup, quotes and non-ASCII.
HOSTILE = "<script>alert('tag')</script> ünïcödé 日本語 & \"quotes\""
HOSTILE_TRACE_ID = "<script>alert(1)</script>"
DM_SQL = "INSERT INTO `shop`.`orders` VALUES (1, '<script>alert(\"dm\")</script>', '数据迁移')"
FILLER_TRACES = 60  # more than one page of the DM list (50)


def fail(what, context=None):
    sys.exit(f"FAILED: {what}" + (f": {json.dumps(context, indent=1, ensure_ascii=False)[:3000]}" if context else ""))


def check(condition, what, context=None):
    if not condition:
        fail(what, context)


def start_server(binary, data_dir, extra=()):
    process, ports = server_process.start(binary, data_dir, extra=extra)
    return process, ports["main"]


def http(port, method, path, body=None, content_type=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method)
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=DEADLINE_SECONDS) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


# ---------------------------------------------------------------- seeding


def base(trace_id, tso, line=1130, filename="syncer.go"):
    return tracer_pb2.BaseEvent(filename=filename, line=line, tso=tso, traceID=trace_id)


def seed_dm(port):
    """DM traces: a binlog trace with jobs, a DDL, a trace to delete, filler
    traces for paging, and last (newest) a trace whose ID is markup."""
    now = time.time_ns()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = tracer_pb2_grpc.TracerStub(channel)

    def jobs(events):
        answer = stub.UploadSyncerJobEvent(tracer_pb2.UploadSyncerJobEventRequest(events=events), timeout=DEADLINE_SECONDS)
        check(answer.result, "job upload", {"msg": answer.msg})

    def binlogs(events):
        answer = stub.UploadSyncerBinlogEvent(tracer_pb2.UploadSyncerBinlogEventRequest(events=events), timeout=DEADLINE_SECONDS)
        check(answer.result, "binlog upload", {"msg": answer.msg})

    for i in range(FILLER_TRACES):
        jobs([tracer_pb2.SyncerJobEvent(base=base(f"task-1.syncer.job.{i:04d}", now + i * 1000), sql=f"UPDATE t SET v = {i}", state=2)])
    main = "task-1.syncer.binlog.0001"
    binlogs([tracer_pb2.SyncerBinlogEvent(
        base=base(main, now + 10_000_000, line=1102),
        state=tracer_pb2.SyncerState(
            safeMode=True,
            lastPos=tracer_pb2.MySQLPosition(name="mysql-bin.000003", pos=4000),
            currentPos=tracer_pb2.MySQLPosition(name="mysql-bin.000003", pos=4096)),
        eventType=30, opType=1)])
    jobs([
        tracer_pb2.SyncerJobEvent(
            base=base(main, now + 12_500_000), opType=1, sql=DM_SQL, state=2, queueBucket="q_3",
            pos=tracer_pb2.MySQLPosition(name="mysql-bin.000003", pos=4096),
            currentPos=tracer_pb2.MySQLPosition(name="mysql-bin.000003", pos=4321)),
        tracer_pb2.SyncerJobEvent(
            base=base(main, now + 15_000_000, line=1205, filename="ddl.go"), opType=4, state=3,
            ddls=["ALTER TABLE `shop`.`orders` ADD COLUMN note TEXT"],
            ddlInfo=tracer_pb2.ExecDDLInfo(lockID="task-1-`shop`.`orders`", exec=True)),
    ])
    jobs([tracer_pb2.SyncerJobEvent(base=base("doomed-trace", now + 20_000_000), sql="DELETE FROM t")])
    jobs([tracer_pb2.SyncerJobEvent(base=base("kept-trace", now + 21_000_000), sql="SELECT 1")])
    jobs([tracer_pb2.SyncerJobEvent(base=base(HOSTILE_TRACE_ID, now + 30_000_000), sql="SELECT '<b>bold</b>'")])
    channel.close()
    return main


def span(trace_id, span_id, name, service, start_us, duration_us, parent=None, kind=None, tags=None,
         annotations=None, remote=None):
    value = {"traceId": trace_id, "id": span_id, "name": name, "timestamp": start_us, "duration": duration_us,
             "localEndpoint": {"serviceName": service, "ipv4": "10.0.0.1", "port": 8080}}
    if parent:
        value["parentId"] = parent
    if kind:
        value["kind"] = kind
    if tags:
        value["tags"] = tags
    if annotations:
        value["annotations"] = [{"timestamp": ts, "value": text} for ts, text in annotations]
    if remote:
        value["remoteEndpoint"] = {"serviceName": remote}
    return value


def post_spans(port, spans):
    for start in range(0, len(spans), 1000):
        status, text = http(port, "POST", "/api/v2/spans", json.dumps(spans[start:start + 1000]).encode(), "application/json")
        check(status == 202, "span upload", {"status": status, "body": text})


def seed_spans(port):
    """A checkout trace with nested spans across three services and one
    error span tagged with markup; a one-span trace; and 1 000- and
    10 000-span traces for the render timings."""
    now = int(time.time() * 1e6) - 60_000_000
    checkout = "4bf92f3577b34da6a3ce929d0e0e4736"
    spans = [
        span(checkout, "00f067aa0ba902b7", "get /checkout", "frontend", now, 120_000, kind="SERVER",
             tags={"http.method": "GET", "http.path": "/checkout"}),
        span(checkout, "00f067aa0ba902b8", "call backend", "frontend", now + 5_000, 100_000,
             parent="00f067aa0ba902b7", kind="CLIENT", remote="backend"),
        span(checkout, "00f067aa0ba902b9", "process order", "backend", now + 8_000, 90_000,
             parent="00f067aa0ba902b8", kind="SERVER", annotations=[(now + 10_000, "order validated")]),
        span(checkout, "00f067aa0ba902ba", "insert order", "backend", now + 20_000, 60_000,
             parent="00f067aa0ba902b9", kind="CLIENT", remote="db",
             tags={"error": "db timeout", "note": HOSTILE, "sql.query": "INSERT INTO orders"},
             annotations=[(now + 21_000, "sent"), (now + 79_000, "timed out")]),
        span(checkout, "00f067aa0ba902bb", "render page", "frontend", now + 106_000, 12_000,
             parent="00f067aa0ba902b7"),
    ]
    batch = "5cf92f3577b34da6"
    spans.append(span(batch, "10f067aa0ba902b7", "nightly batch", "batch", now + 1_000, 3_000_000))
    # A trace whose critical path is known: the root (0-100 ms) waits for
    # "slow" (20-90 ms), which ends last; "fast" (10-40 ms, with a child) and
    # "inside" (50-60 ms) run beside it and are off the path.
    spans += [
        span(CRITICAL_TRACE, "20f067aa0ba90001", "fan out", "fanout", now, 100_000, kind="SERVER"),
        span(CRITICAL_TRACE, "20f067aa0ba90002", "fast", "fanout", now + 10_000, 30_000, parent="20f067aa0ba90001"),
        span(CRITICAL_TRACE, "20f067aa0ba90003", "fast child", "fanout", now + 15_000, 20_000, parent="20f067aa0ba90002"),
        span(CRITICAL_TRACE, "20f067aa0ba90004", "slow", "fanout", now + 20_000, 70_000, parent="20f067aa0ba90001"),
        span(CRITICAL_TRACE, "20f067aa0ba90005", "inside", "fanout", now + 50_000, 10_000, parent="20f067aa0ba90001"),
    ]
    post_spans(port, spans)

    big = {}
    rng = random.Random(7)
    for count in (1000, 10000):
        trace_id = f"ab{count:030x}"
        ids = [f"{count:08x}{i:08x}" for i in range(count)]
        tree = [span(trace_id, ids[0], "load root", "load", now, 5_000_000, kind="SERVER")]
        for i in range(1, count):
            # Each span under a recent one: deep chains and wide fans both.
            parent = rng.randrange(max(0, i - 20), i)
            start = now + i * (4_000_000 // count)
            tree.append(span(trace_id, ids[i], f"step {i}", rng.choice(["load", "cache", "store"]), start,
                             rng.randrange(100, 200_000), parent=ids[parent],
                             tags={"error": "boom"} if i % 97 == 0 else {"i": str(i)}))
        post_spans(port, tree)
        big[count] = trace_id
    return checkout, big


# ---------------------------------------------------------------- browser


class Watch:
    """Everything that must not happen while the pages are driven."""

    def __init__(self, page, port):
        self.problems = []
        # (status, URL part) answers a test provokes on purpose.
        self.expected = set()
        page.on("console", lambda msg: msg.type == "error" and not self.expected_console(msg.text)
                and self.problems.append(f"console error: {msg.text}"))
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("requestfailed", lambda request: self.problems.append(f"request failed: {request.url} {request.failure}"))
        page.on("response", lambda response: response.status >= 400
                and not any(response.status == status and part in response.url for status, part in self.expected)
                and self.problems.append(f"HTTP {response.status}: {response.url}"))
        page.on("dialog", lambda dialog: (self.problems.append(f"a JavaScript dialog opened: {dialog.message}"), dialog.dismiss()))

    def expected_console(self, text):
        # Chromium logs every 4xx answer as "Failed to load resource".
        return any(f"status of {status}" in text for status, _ in self.expected)

    def assert_clean(self, where):
        check(not self.problems, f"{where}: the browser saw problems", self.problems)


CRITICAL_TRACE = "6cf92f3577b34da6"


def boxes_outside_their_rows(page, container):
    """Every waterfall row's label, name, service, bar and duration boxes
    must lie inside the row's box, and the axis labels inside the axis:
    what a user sees as clipping. Returns the offenders."""
    return page.evaluate("""(container) => {
      const inside = (inner, outer) => inner.width === 0 || (inner.top >= outer.top - 0.5 && inner.bottom <= outer.bottom + 0.5
        && inner.left >= outer.left - 0.5 && inner.right <= outer.right + 0.5);
      const bad = [];
      for (const row of document.querySelectorAll(`${container} .row`)) {
        const outer = row.getBoundingClientRect();
        for (const part of row.querySelectorAll(".label, .service, .name, .bar, em, .cp")) {
          const box = part.getBoundingClientRect();
          if (!inside(box, outer)) bad.push({ span: row.dataset.spanId, part: part.className || part.tagName, box: [box.top, box.bottom, box.left, box.right], row: [outer.top, outer.bottom, outer.left, outer.right] });
        }
      }
      const axis = document.querySelector(`${container} .axis`).getBoundingClientRect();
      for (const tick of document.querySelectorAll(`${container} .ticks span`)) {
        const box = tick.getBoundingClientRect();
        if (!inside(box, axis)) bad.push({ tick: tick.textContent, box: [box.left, box.right], axis: [axis.left, axis.right] });
      }
      return bad;
    }""", container)


def visible_rows(page, selector):
    return page.eval_on_selector_all(selector, "rows => rows.filter(row => !row.hidden && row.offsetParent !== null).length")


def render_ms(page, base_url, trace_id):
    page.goto(f"{base_url}/ui/#/trace/{trace_id}")
    # A hash change keeps the page: wait for this trace's view, not the last one.
    ready = f"#trace-page[data-trace-id='{trace_id}'][data-render-ms]"
    page.wait_for_selector(ready, timeout=60_000)
    return float(page.get_attribute(ready, "data-render-ms")), float(page.get_attribute(ready, "data-fetch-ms"))


def drive(page, port, shots, checkout, big, main_dm):
    base_url = f"http://127.0.0.1:{port}"
    watch = Watch(page, port)

    def shot(name):
        if shots:
            page.screenshot(path=os.path.join(shots, f"{name}.png"), full_page=False)

    # The root sends a browser to the UI; the search page fills its lists.
    page.goto(f"{base_url}/")
    check(page.url == f"{base_url}/ui/", "/ redirects a browser to /ui/", {"url": page.url})
    page.wait_for_selector("#serviceName option[value='frontend']", state="attached")
    services = page.eval_on_selector_all("#serviceName option", "options => options.map(o => o.value)")
    check({"frontend", "backend", "batch", "load"} <= set(services), "service list from /api/v2/services", services)
    page.select_option("#serviceName", "frontend")
    page.wait_for_selector("#spanName option[value='get /checkout']", state="attached")
    page.wait_for_selector("#remoteServiceName option[value='backend']", state="attached")
    page.click("#run-query")
    page.wait_for_selector("table.results tr.result")
    rows = page.locator("table.results tr.result")
    check(rows.count() == 1, "one trace has frontend spans", {"rows": rows.count()})
    row_text = rows.first.inner_text()
    for expected in ["frontend: get /checkout", checkout, "120.000ms", "1 error", "frontend ×3", "backend ×2"]:
        check(expected in row_text, f"the result row shows {expected!r}", row_text)
    # Per service over the matching traces: traces, spans, error rate, p50, p99.
    summary = page.eval_on_selector_all("#service-summary tbody tr",
                                        "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
    check(summary == [["frontend", "1", "3", "0.0%", "100.000ms", "120.000ms"],
                      ["backend", "1", "2", "50.0%", "60.000ms", "90.000ms"]],
          "the per-service summary of the matching traces", summary)
    shot("search")

    # Every service: newest first, with duration bars.
    page.select_option("#serviceName", "")
    page.click("#run-query")
    page.wait_for_function("() => document.querySelectorAll('table.results tr.result').length >= 4")
    ids = page.eval_on_selector_all("table.results tr.result", "rows => rows.map(r => r.dataset.traceId)")
    check(set(ids) >= {checkout, "5cf92f3577b34da6", big[1000], big[10000]}, "every trace found", ids)

    # Search -> trace -> span detail.
    page.click(f"table.results tr.result[data-trace-id='{checkout}']")
    page.wait_for_selector("#waterfall .row")
    check(page.locator("#waterfall .row").count() == 5, "the waterfall has a row per span")
    names = page.eval_on_selector_all("#waterfall .row .name", "names => names.map(n => n.textContent)")
    check(names == ["get /checkout", "call backend", "process order", "insert order", "render page"],
          "spans in tree order", names)
    error_rows = page.eval_on_selector_all("#waterfall .row.error", "rows => rows.map(r => r.dataset.spanId)")
    check(error_rows == ["00f067aa0ba902ba"], "the error span is marked", error_rows)
    check("1 error" in page.inner_text("#trace-errors"), "the trace's error count")
    # Geometry, not only text: error and other rows alike draw inside their row.
    offenders = boxes_outside_their_rows(page, "#waterfall")
    check(offenders == [], "every label, bar and axis label lies inside its row or axis", offenders)
    toolbar = page.inner_text("#trace-page .toolbar")
    check("5 spans" in toolbar and "2 services" in toolbar, "the trace's counts", toolbar)
    page.click("#waterfall .row[data-span-id='00f067aa0ba902ba']")
    page.wait_for_selector("#span-tags")
    tags = page.inner_text("#span-tags")
    check(HOSTILE in tags, "a tag holding markup and non-ASCII shows as text", tags)
    check(page.locator("#span-detail script, #span-detail b").count() == 0, "no element came from a tag value")
    annotations = page.inner_text("#span-annotations")
    check("sent" in annotations and "timed out" in annotations and "+1.000ms" in annotations and "+59.000ms" in annotations,
          "annotations with their times", annotations)
    detail = page.inner_text("#span-detail")
    for expected in ["00f067aa0ba902b9", "backend @ 10.0.0.1:8080", "db", "CLIENT", "60.000ms"]:
        check(expected in detail, f"the span detail shows {expected!r}", detail)
    shot("trace")
    # Collapsing the root hides its subtree; expanding brings it back.
    page.click("#waterfall .row[data-span-id='00f067aa0ba902b7'] .toggle")
    check(visible_rows(page, "#waterfall .row") == 1, "a collapsed root hides its subtree")
    page.click("#expand-all")
    check(visible_rows(page, "#waterfall .row") == 5, "expand all shows every span")
    page.click("#waterfall .row[data-span-id='00f067aa0ba902b8'] .toggle")
    check(visible_rows(page, "#waterfall .row") == 3, "collapsing a middle span hides only its subtree")
    # The critical path of a trace whose path is known.
    page.goto(f"{base_url}/ui/#/trace/{CRITICAL_TRACE}")
    page.wait_for_selector("#waterfall .row")
    on_path = page.eval_on_selector_all("#waterfall .row.critical", "rows => rows.map(r => r.querySelector('.name').textContent)")
    check(on_path == ["fan out", "slow"], "the critical path runs through the span that ended last", on_path)
    marks = page.eval_on_selector_all("#waterfall .row.critical", "rows => rows.map(r => r.querySelectorAll('.cp').length)")
    check(marks == [2, 1], "the root is on the path before and after its slow child", marks)
    check("critical path: 2 spans" in page.inner_text("#critical-legend"), "the legend counts the path")
    check(boxes_outside_their_rows(page, "#waterfall") == [], "critical path marks lie inside their rows")
    # One service, one span: no "1 services".
    page.goto(f"{base_url}/ui/#/trace/5cf92f3577b34da6")
    page.wait_for_selector("#waterfall .row")
    toolbar = page.inner_text("#trace-page .toolbar")
    check("1 span" in toolbar and "1 service" in toolbar and "1 services" not in toolbar and "1 spans" not in toolbar,
          "singular counts", toolbar)
    watch.assert_clean("search and trace pages")

    # The DM list: newest first, markup in a trace ID shown as text, paging, filter.
    page.goto(f"{base_url}/ui/#/dm")
    page.wait_for_selector("#dm-list tbody tr")
    first_id = page.get_attribute("#dm-list tbody tr:first-child", "data-trace-id")
    check(first_id == HOSTILE_TRACE_ID, "the newest trace is listed first", {"first": first_id})
    check(page.inner_text("#dm-list tbody tr:first-child td:first-child") == HOSTILE_TRACE_ID,
          "a trace ID holding markup shows as text")
    check(page.locator("#dm-list script").count() == 0, "no element came from a trace ID")
    check(page.locator("#dm-list tbody tr").count() == 50, "a page holds 50 traces")
    page.fill("#dm-filter", "binlog")
    check(visible_rows(page, "#dm-list tbody tr") == 1, "the filter narrows the loaded page")
    check(page.inner_text("#dm-count") == "1 of 50 traces on this page", "the filter's count")
    shot("dm-list")
    page.fill("#dm-filter", "")
    page.click("#next-page")
    page.wait_for_selector("#first-page")
    page.wait_for_function("() => document.querySelectorAll('#dm-list tbody tr').length > 0")
    second = page.eval_on_selector_all("#dm-list tbody tr", "rows => rows.map(r => r.dataset.traceId)")
    check(len(second) > 0 and HOSTILE_TRACE_ID not in second and "task-1.syncer.job.0000" in second,
          "the next page continues towards older traces", second)
    page.click("#order-oldest")
    # DM traces only by default: the oldest DM trace, not the older span traces.
    page.wait_for_function("id => document.querySelector('#dm-list tbody tr')?.dataset.traceId === id",
                           arg="task-1.syncer.job.0000")
    check("1 job" in page.inner_text("#dm-list tbody tr:first-child"), "a trace's events by kind")
    # The switch shows every trace: the spans were stored first, so the checkout trace is the oldest.
    page.click("#kind-all")
    page.wait_for_function("id => document.querySelector('#dm-list tbody tr')?.dataset.traceId === id", arg=checkout)
    check("5 span" in page.inner_text("#dm-list tbody tr:first-child"), "a span trace's events by kind")
    check(page.inner_text("h1") == "All traces", "the heading says which traces are listed")

    # Open a trace by ID -> its timeline.
    page.fill("#open-trace-id", main_dm)
    page.click("#open-trace button")
    page.wait_for_selector("#timeline li")
    kinds = page.eval_on_selector_all("#timeline li", "items => items.map(i => i.dataset.kind)")
    check(kinds == ["binlog", "job", "job"], "the timeline's events in arrival order", kinds)
    timeline = page.inner_text("#timeline")
    for expected in [DM_SQL, "syncer.go:1102", "ddl.go:1205", "mysql-bin.000003:4096", "mysql-bin.000003:4321",
                     "safe mode", "on", "success", "error", "ALTER TABLE `shop`.`orders` ADD COLUMN note TEXT",
                     "+2.500ms", "+5.000ms", "q_3",
                     # DM's integers with their names: MySQL's event type and DM's op types.
                     "WRITE_ROWS_EVENTv2 (30)", "insert (1)", "ddl (4)"]:
        check(expected in timeline, f"the timeline shows {expected!r}", timeline)
    check(page.locator("#timeline script").count() == 0, "no element came from SQL")
    shot("dm-timeline")

    # Delete: cancel keeps the trace, confirm removes it.
    page.goto(f"{base_url}/ui/#/dm/kept-trace")
    page.click("#delete-trace")
    page.wait_for_selector("#confirm-delete[open]")
    page.click("#cancel-delete")
    check(http(port, "GET", "/events/query?trace_id=kept-trace")[0] == 200, "cancel keeps the trace")
    page.goto(f"{base_url}/ui/#/dm/doomed-trace")
    page.click("#delete-trace")
    page.wait_for_selector("#confirm-delete[open]")
    shot("dm-delete")
    page.click("#really-delete")
    page.wait_for_function("() => location.hash === '#/dm'")
    page.wait_for_selector("#dm-list tbody tr")
    listed = page.eval_on_selector_all("#dm-list tbody tr", "rows => rows.map(r => r.dataset.traceId)")
    check("doomed-trace" not in listed and "kept-trace" in listed, "the deleted trace left the list", listed)
    check(http(port, "GET", "/events/query?trace_id=doomed-trace")[0] == 404, "the trace is gone from the store")

    # Dependencies.
    page.goto(f"{base_url}/ui/#/dependencies")
    page.wait_for_selector("#dependency-graph")
    table = page.inner_text("#dependency-table")
    check(re.search(r"frontend\s+backend\s+1\s+0", table) and re.search(r"backend\s+db\s+1\s+1", table),
          "calls and errors per link", table)
    check(page.locator("#dependency-graph .node").count() >= 3, "a node per service")
    shot("dependencies")

    # Status.
    page.goto(f"{base_url}/ui/#/status")
    page.wait_for_selector("#status-version")
    status = json.loads(http(port, "GET", "/status")[1])
    check(status["version"] in page.inner_text("#status-version"), "the version")
    stats = json.loads(http(port, "GET", "/api/tracekeep/stats")[1])
    check(page.inner_text("#status-traces .value") == str(stats["traces"]), "the trace count",
          {"page": page.inner_text("#status-traces"), "stats": stats["traces"]})
    check(page.inner_text("#status-events-job .value") == str(stats["events"]["job"]), "job events")
    check(page.locator("#status-uptime").count() == 1 and page.locator("#status-tso").count() == 1, "uptime and TSO mark")
    shot("status")
    watch.assert_clean("DM, dependencies and status pages")

    # Long traces stay usable: every span is a row, a click still selects.
    timings = {}
    for count in (1000, 10000):
        timings[count] = render_ms(page, base_url, big[count])
        rows = page.locator("#waterfall .row").count()
        check(rows == count, f"the {count}-span trace has a row per span", {"rows": rows})
    page.click("#waterfall .row:nth-child(30)")
    page.wait_for_selector("#span-tags")
    shot("trace-10000")
    watch.assert_clean("long traces")
    for count, (ms, request_ms) in timings.items():
        print(f"[ui] {count}-span trace shown in {ms:.0f} ms (its request: {request_ms:.0f} ms)")


def drive_token_prompt(page, binary, data, token_file):
    """Against a server with auth-token-file: a delete from the UI asks for
    the token, refuses a wrong one, and deletes with the right one."""
    with open(token_file, "w") as out:
        out.write("ui-test-token\n")
    config = os.path.join(os.path.dirname(token_file), "guarded.toml")
    with open(config, "w") as out:
        out.write(f"auth-token-file = {json.dumps(token_file)}\n")
    process, port = start_server(binary, data, ["--config", config])
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = tracer_pb2_grpc.TracerStub(channel)
        answer = stub.UploadSyncerJobEvent(tracer_pb2.UploadSyncerJobEventRequest(
            events=[tracer_pb2.SyncerJobEvent(base=base("guarded-trace", time.time_ns()), sql="SELECT 1")]), timeout=DEADLINE_SECONDS)
        check(answer.result, "upload to the guarded server")
        channel.close()
        base_url = f"http://127.0.0.1:{port}"
        watch = Watch(page, port)
        watch.expected.add((401, "/events/delete"))
        page.goto(f"{base_url}/ui/#/dm/guarded-trace")
        page.click("#delete-trace")
        page.click("#really-delete")
        page.wait_for_selector("#delete-token")
        check("needs a token" in page.inner_text("#delete-status"), "the UI asks for a token", page.inner_text("#delete-status"))
        page.fill("#delete-token", "wrong")
        page.click("#delete-with-token")
        page.wait_for_function("() => document.querySelector('#delete-status')?.textContent.includes('refused')")
        check(http(port, "GET", "/events/query?trace_id=guarded-trace")[0] == 200, "a wrong token deletes nothing")
        page.fill("#delete-token", "ui-test-token")
        page.click("#delete-with-token")
        page.wait_for_function("() => location.hash === '#/dm'")
        check(http(port, "GET", "/events/query?trace_id=guarded-trace")[0] == 404, "the right token deletes")
        watch.assert_clean("token prompt")
    finally:
        process.terminate()
        process.wait(timeout=DEADLINE_SECONDS)


def bench(page, port, big, runs):
    base_url = f"http://127.0.0.1:{port}"
    watch = Watch(page, port)
    print("| spans | runs | shown, median ms | shown, max ms | of which the request, median ms | target ms |")
    print("|------:|-----:|-----------------:|--------------:|-------------------------------:|----------:|")
    for count, target in ((1000, 300), (10000, 2000)):
        times = []
        for _ in range(runs):
            # From another page each time, so every run builds the view anew.
            page.goto(f"{base_url}/ui/#/status")
            page.wait_for_selector("#status-version")
            times.append(render_ms(page, base_url, big[count]))
        shown = [ms for ms, _ in times]
        requests = [request_ms for _, request_ms in times]
        print(f"| {count} | {runs} | {statistics.median(shown):.0f} | {max(shown):.0f} "
              f"| {statistics.median(requests):.0f} | {target} |")
    watch.assert_clean("bench")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--chromium", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--screenshots")
    parser.add_argument("--bench", type=int, default=0)
    args = parser.parse_args()
    if args.screenshots:
        os.makedirs(args.screenshots, exist_ok=True)

    process, port = start_server(args.server, args.data)
    try:
        checkout, big = seed_spans(port)
        main_dm = seed_dm(port)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=args.chromium,
                args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 860})
            page.set_default_timeout(DEADLINE_SECONDS * 1000)
            if args.bench:
                bench(page, port, big, args.bench)
            else:
                drive(page, port, args.screenshots, checkout, big, main_dm)
                drive_token_prompt(browser.new_page(), args.server, args.data + "-guarded",
                                   os.path.join(os.path.dirname(args.data), "tokens"))
                print("[ui] every page passed in headless Chromium"
                      + (f"; screenshots in {args.screenshots}" if args.screenshots else ""))
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=DEADLINE_SECONDS)


if __name__ == "__main__":
    main()
