//! Every RPC and endpoint of the server, its status codes and error texts.

use std::io::Write;
use std::net::TcpStream;

use tracekeep_proto::pb;

use tracekeep_e2e::harness::*;

fn fresh() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    (dir, server)
}

#[test]
fn status_reports_version_and_git_hash() {
    let (_dir, server) = fresh();
    let response = server.get("/status");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let status = response.json();
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert!(!status["git_hash"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn stats_count_what_was_stored_and_report_the_engine() {
    let (_dir, server) = fresh();
    let empty = server.get("/api/tracekeep/stats").json();
    assert_eq!(empty["traces"], 0);
    assert_eq!(empty["events"]["job"], 0);
    let mut client = server.grpc().await;
    assert!(
        upload_jobs(&mut client, vec![job("a", 1), job("a", 2), job("b", 3)])
            .await
            .result
    );
    assert!(upload_binlogs(&mut client, vec![binlog("b", 4)]).await.result);
    let response = server.get("/api/tracekeep/stats");
    assert_eq!(response.status, 200);
    let stats = response.json();
    assert_eq!(stats["traces"], 2);
    assert_eq!(stats["events"]["job"], 3);
    assert_eq!(stats["events"]["binlog"], 1);
    assert_eq!(stats["events"]["span"], 0);
    // On a bucket the data directory holds its lock file and a cache that
    // fills only once tables are written.
    assert!(on_bucket() || stats["bytes_on_disk"].as_u64().unwrap() > 0);
    assert!(stats["tso_mark"].as_i64().is_some());
    let engine = &stats["engine"];
    // RocksDB's figures; the bucket engine reports none yet (zeros).
    assert!(
        on_bucket() || engine["memtable_bytes"].as_u64().unwrap() > 0,
        "{engine}"
    );
    assert_eq!(engine["write_stopped"], false);
    assert!(engine["pending_compaction_bytes"].as_u64().is_some());
}

#[tokio::test]
async fn uploads_come_back_through_query_in_arrival_order() {
    let (_dir, server) = fresh();
    let mut client = server.grpc().await;
    let reply = upload_binlogs(&mut client, vec![binlog("src.1", 10), binlog("src.2", 11)]).await;
    assert!(reply.result, "{}", reply.msg);
    let reply = upload_jobs(&mut client, vec![job("src.1", 12), job("src.1", 13)]).await;
    assert!(reply.result, "{}", reply.msg);

    let response = server.get("/events/query?trace_id=src.1");
    assert_eq!(response.status, 200);
    let events = response.json();
    assert_eq!(tsos(&events), [10, 12, 13]);
    let types: Vec<_> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["type"].as_i64())
        .collect();
    assert_eq!(types, [Some(1), Some(2), Some(2)]);
    assert_eq!(events[1]["event"]["sql"], "INSERT INTO t VALUES (12)");
}

#[tokio::test]
async fn event_json_is_dm_tracers_with_zero_values_left_out() {
    let (_dir, server) = fresh();
    let mut client = server.grpc().await;
    let event = pb::SyncerJobEvent {
        base: Some(pb::BaseEvent {
            filename: "/dm/syncer/syncer.go".into(),
            line: 1130,
            tso: 1_552_371_525_597_270_410,
            trace_id: "mysql-replica-01.syncer.test.1".into(),
            group_id: String::new(),
            r#type: pb::TraceType::JobEvent as i32,
        }),
        op_type: 0,
        pos: Some(pb::MySqlPosition {
            name: "bin|000001.000004".into(),
            pos: 68073,
        }),
        current_pos: Some(pb::MySqlPosition::default()),
        sql: "INSERT INTO t VALUES (1) /* a<b */".into(),
        ddls: Vec::new(),
        args_checksum: 3_735_928_559,
        ddl_info: Some(pb::ExecDdlInfo {
            lock_id: String::new(),
            exec: true,
        }),
        queue_bucket: "q_1".into(),
        state: pb::SyncerJobState::Success as i32,
    };
    assert!(upload_jobs(&mut client, vec![event]).await.result);
    let response = server.get("/events/query?trace_id=mysql-replica-01.syncer.test.1");
    let expected = r#"[
 {
  "type": 2,
  "event": {
   "base": {
    "filename": "/dm/syncer/syncer.go",
    "line": 1130,
    "tso": 1552371525597270410,
    "traceID": "mysql-replica-01.syncer.test.1",
    "type": 2
   },
   "pos": {
    "name": "bin|000001.000004",
    "pos": 68073
   },
   "currentPos": {},
   "sql": "INSERT INTO t VALUES (1) /* a\u003cb */",
   "argsChecksum": 3735928559,
   "ddlInfo": {
    "exec": true
   },
   "queueBucket": "q_1",
   "state": 2
  }
 }
]"#;
    assert_eq!(response.body, expected);

    let mut binlog_event = binlog("b.1", 0);
    binlog_event.state = Some(pb::SyncerState {
        safe_mode: true,
        try_re_sync: true,
        last_pos: None,
        current_pos: Some(pb::MySqlPosition {
            name: "bin.000002".into(),
            pos: 4,
        }),
    });
    assert!(upload_binlogs(&mut client, vec![binlog_event]).await.result);
    let event = &server.get("/events/query?trace_id=b.1").json()[0]["event"];
    assert_eq!(
        event["state"],
        serde_json::json!({"safeMode": true, "tryReSync": true, "currentPos": {"name": "bin.000002", "pos": 4}})
    );
    assert_eq!(event["eventType"], 4);
    assert!(event.get("opType").is_none(), "zero opType is left out");
    assert!(event["base"].get("tso").is_none(), "zero tso is left out");
    assert!(event["base"].get("groupID").is_none(), "empty groupID is left out");
}

#[tokio::test]
async fn a_bad_event_refuses_the_whole_request_and_names_its_index() {
    let (_dir, server) = fresh();
    let mut client = server.grpc().await;
    let mut no_base = job("x", 1);
    no_base.base = None;
    let reply = upload_jobs(&mut client, vec![job("ok.1", 1), no_base]).await;
    assert!(!reply.result);
    assert!(reply.msg.contains("event 1"), "{}", reply.msg);
    assert!(reply.msg.contains("no base"), "{}", reply.msg);

    let reply = upload_binlogs(&mut client, vec![binlog("", 1)]).await;
    assert!(!reply.result);
    assert!(
        reply.msg.contains("event 0") && reply.msg.contains("traceID is empty"),
        "{}",
        reply.msg
    );

    assert_eq!(
        server.get("/events/query?trace_id=ok.1").status,
        404,
        "nothing of a refused request is stored"
    );
    assert!(
        upload_jobs(&mut client, vec![job("ok.1", 2)]).await.result,
        "the server keeps serving"
    );
    assert_eq!(tsos(&server.get("/events/query?trace_id=ok.1").json()), [2]);
}

#[tokio::test]
async fn an_oversized_request_gets_a_clear_grpc_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tracer.toml");
    std::fs::write(&config, "max-request-size = 4096\n").unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &["--config", config.to_str().unwrap()]);
    let mut client = server.grpc().await;
    let mut big = job("big", 1);
    big.sql = "x".repeat(10_000);
    let status = client
        .upload_syncer_job_event(pb::UploadSyncerJobEventRequest { events: vec![big] })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("message length too large"), "{status:?}");
    assert!(upload_jobs(&mut client, vec![job("small", 1)]).await.result);
}

#[tokio::test]
async fn get_tso_is_strictly_increasing() {
    let (_dir, server) = fresh();
    let mut client = server.grpc().await;
    let mut previous = tso(&mut client).await;
    for _ in 0..200 {
        let next = tso(&mut client).await;
        assert!(next > previous);
        previous = next;
    }
}

#[test]
fn query_needs_a_trace_id_and_unknown_ids_are_404() {
    let (_dir, server) = fresh();
    let response = server.get("/events/query");
    assert_eq!(response.status, 400);
    assert_eq!(response.body, "trace id not provided");
    assert_eq!(server.get("/events/query?trace_id=").status, 400);
    let response = server.get("/events/query?trace_id=ghost");
    assert_eq!(response.status, 404);
    assert!(
        response.body.contains("trace event ghost not found"),
        "{}",
        response.body
    );
    assert!(response.header("content-type").unwrap().starts_with("text/plain"));
}

#[tokio::test]
async fn trace_ids_with_any_characters_round_trip_through_url_encoding() {
    let (_dir, server) = fresh();
    let mut client = server.grpc().await;
    let ids = [
        "t.1",
        "t.10",
        "t.1\0x",
        "a|b&c=d e+f/%",
        "多字节.1",
        "quote\"back\\slash",
    ];
    for (n, id) in ids.iter().enumerate() {
        assert!(upload_jobs(&mut client, vec![job(id, n as i64 + 1)]).await.result);
    }
    for (n, id) in ids.iter().enumerate() {
        let response = server.get(&format!("/events/query?trace_id={}", encode(id)));
        assert_eq!(response.status, 200, "{id:?}");
        let events = response.json();
        assert_eq!(tsos(&events), [n as i64 + 1], "{id:?}");
        assert_eq!(events[0]["event"]["base"]["traceID"], *id);
    }
}

async fn fifteen_traces(server: &Server) {
    let mut client = server.grpc().await;
    for n in 0..15 {
        assert!(
            upload_jobs(&mut client, vec![job(&format!("trace.{n}"), n + 1)])
                .await
                .result
        );
    }
}

fn first_tsos(page: &serde_json::Value) -> Vec<i64> {
    page.as_array().unwrap().iter().map(|trace| tsos(trace)[0]).collect()
}

#[tokio::test]
async fn scan_pages_like_dm_tracer() {
    let (_dir, server) = fresh();
    fifteen_traces(&server).await;
    for (offset, limit, expected) in [(0, 0, 0), (3, 5, 5), (3, 20, 12), (10, 10, 5), (15, 10, 0)] {
        let response = server.get(&format!("/events/scan?offset={offset}&limit={limit}"));
        assert_eq!(response.status, 200, "offset {offset} limit {limit}: {}", response.body);
        let want: Vec<i64> = (offset + 1..=offset + expected).collect();
        assert_eq!(first_tsos(&response.json()), want, "offset {offset} limit {limit}");
    }
    let response = server.get("/events/scan?offset=16&limit=10");
    assert_eq!(response.status, 404);
    assert_eq!(response.body, "offset: 16, limit: 10 not found");
    let defaults = server.get("/events/scan").json();
    assert_eq!(
        first_tsos(&defaults),
        (1..=10).collect::<Vec<_>>(),
        "offset 0, limit 10 by default"
    );
}

#[test]
fn bad_scan_parameters_are_400_naming_the_parameter() {
    let (_dir, server) = fresh();
    for (query, name) in [
        ("offset=abc", "offset"),
        ("offset=-1", "offset"),
        ("limit=x", "limit"),
        ("limit=-5", "limit"),
        ("limit=1000000", "limit"),
        ("after=zz", "after"),
        ("offset=1&after=3", "offset and after"),
    ] {
        let response = server.get(&format!("/events/scan?{query}"));
        assert_eq!(response.status, 400, "{query}");
        assert!(response.body.starts_with(name), "{query}: {}", response.body);
    }
}

#[tokio::test]
async fn the_cursor_form_pages_deep_without_offsets() {
    let (_dir, server) = fresh();
    fifteen_traces(&server).await;
    let mut seen = Vec::new();
    let mut response = server.get("/events/scan?limit=4");
    loop {
        assert_eq!(response.status, 200);
        seen.extend(first_tsos(&response.json()));
        match response.header("x-tracekeep-next") {
            Some(next) => response = server.get(&format!("/events/scan?after={next}&limit=4")),
            None => break,
        }
    }
    assert_eq!(seen, (1..=15).collect::<Vec<_>>());
    let last = server.get("/events/scan?offset=11&limit=4");
    assert_eq!(last.header("x-tracekeep-next"), None, "no next page after the end");
}

#[tokio::test]
async fn delete_is_post_only_and_reports_whether_it_removed() {
    let (_dir, server) = fresh();
    fifteen_traces(&server).await;
    let response = server.get("/events/delete?trace_id=trace.1");
    assert_eq!(response.status, 400);
    assert!(response.body.contains("POST is required"), "{}", response.body);
    assert_eq!(
        server.get("/events/query?trace_id=trace.1").status,
        200,
        "a refused delete deletes nothing"
    );

    let response = server.post("/events/delete?trace_id=trace.1");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.json(),
        serde_json::json!({"trace_id": "trace.1", "result": true})
    );
    assert_eq!(response.body, "{\n \"trace_id\": \"trace.1\",\n \"result\": true\n}");
    assert_eq!(server.get("/events/query?trace_id=trace.1").status, 404);

    let response = server.post_form("/events/delete", b"trace_id=trace.2");
    assert_eq!(
        response.json(),
        serde_json::json!({"trace_id": "trace.2", "result": true})
    );
    let response = server.post_form("/events/delete", b"trace_id=trace.2");
    assert_eq!(
        response.json(),
        serde_json::json!({"trace_id": "trace.2", "result": false})
    );

    let response = server.post("/events/delete");
    assert_eq!(
        (response.status, response.body.as_str()),
        (400, "trace id not provided")
    );
    // Later traces moved up: offset 1 is now trace.3.
    assert_eq!(first_tsos(&server.get("/events/scan?offset=1&limit=1").json()), [4]);
}

#[tokio::test]
async fn truncate_is_post_only_and_empties_the_store() {
    let (_dir, server) = fresh();
    fifteen_traces(&server).await;
    let response = server.get("/events/truncate");
    assert_eq!(response.status, 400);
    assert!(response.body.contains("POST is required"));
    assert_eq!(server.get("/events/scan").json().as_array().unwrap().len(), 10);
    let response = server.post("/events/truncate");
    assert_eq!(response.status, 200);
    assert_eq!(response.json(), serde_json::json!({"result": true}));
    assert_eq!(server.get("/events/scan").json(), serde_json::json!([]));
    assert_eq!(server.get("/events/query?trace_id=trace.0").status, 404);
}

#[tokio::test]
async fn unknown_paths_are_404_for_http_and_unimplemented_for_grpc() {
    let (_dir, server) = fresh();
    let response = server.get("/no/such/path");
    assert_eq!((response.status, response.body.as_str()), (404, "404 page not found"));
    assert_eq!(server.post("/events").status, 404);
    // A gRPC client of a method the server lacks.
    let mut grpc = tonic::client::Grpc::new(
        tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    grpc.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<pb::GetTsoRequest, pb::GetTsoResponse>::default();
    let path = "/pb.Tracer/NoSuchMethod".parse().unwrap();
    let status = grpc
        .unary(tonic::Request::new(pb::GetTsoRequest::default()), path, codec)
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented);
}

#[tokio::test]
async fn garbage_input_gets_errors_and_the_server_keeps_serving() {
    let (_dir, server) = fresh();
    let mut client = server.grpc().await;
    assert!(upload_jobs(&mut client, vec![job("kept", 1)]).await.result);

    // Non-UTF-8 and malformed escapes in a form body.
    let response = server.post_form("/events/delete", b"trace_id=%FF%FE");
    assert_eq!(response.status, 400);
    assert!(response.body.contains("UTF-8"), "{}", response.body);
    let response = server.post_form("/events/delete", b"trace_id=\xff\xfe");
    assert_eq!(response.status, 400);
    assert_eq!(server.get("/events/query?trace_id=%zz").status, 400);

    // Bytes that are neither HTTP/1.1 nor HTTP/2.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.write_all(b"\x00\x01\x02garbage\r\n\r\n").unwrap();
    drop(stream);
    // An HTTP/1.1 request that claims a body it never sends, then hangs up.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .write_all(b"POST /events/delete HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\ntrace")
        .unwrap();
    drop(stream);

    assert_eq!(server.get("/status").status, 200);
    assert_eq!(tsos(&server.get("/events/query?trace_id=kept").json()), [1]);
    assert!(upload_jobs(&mut client, vec![job("kept", 2)]).await.result);
}
