//! echo_api's chat in a real browser: two `/chat` pages in one headless
//! Chromium, each sees the other's message, through Chromium's own
//! WebSocket client.
//!
//! The test serves a page of its own, `/test/two-chats`, holding the two
//! chat pages in iframes (same origin, so it can read and use them). Its
//! script does what two people would: once both pages say "connected",
//! it types `from-a` into the first page's box and presses Send, waits
//! until both logs show it, then does the same with `from-b` in the
//! second page. One message at a time, so that each log must read
//! exactly `from-a`, `from-b`. It then writes what both pages show
//! (their status line and their log) into its `#verdict` as JSON.
//!
//! The test drives Chromium over its DevTools protocol (a WebSocket,
//! spoken with tungstenite) and reads `#verdict` from the page's DOM.
//! `--dump-dom` will not do here: its `--virtual-time-budget` waits for
//! the page's fetches but not for WebSocket traffic, so virtual time
//! runs out, and the DOM is dumped, while messages are still on their
//! way. Over DevTools the page runs in real time; the waits are events
//! (the page's `load`, a `MutationObserver` on the chat pages), each
//! bounded, and the browser is ended by its PID if it does not close.

#[path = "../examples/echo_api/app.rs"]
mod app;
mod support;

use serde_json::{Value, json};
use sockhttp::Response;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::thread;
use std::time::Instant;
use support::*;
use tungstenite::stream::MaybeTlsStream;

/// The page that holds two chat pages and has each say one line; its
/// `verdict` is a promise settled once `#verdict` holds what both pages
/// show: `{"a": {"status", "log"}, "b": {...}}`, with `"error"` if a
/// wait timed out.
const TWO_CHATS_HTML: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>two chats</title>
</head>
<body>
<iframe id="a" src="/chat"></iframe>
<iframe id="b" src="/chat"></iframe>
<pre id="verdict"></pre>
<script>
const a = document.getElementById("a");
const b = document.getElementById("b");

// What a chat page shows: its status line and the lines of its log.
function shown(frame) {
  const doc = frame.contentDocument;
  return {
    status: doc.getElementById("status").textContent,
    log: Array.from(doc.querySelectorAll("#log li"), (li) => li.textContent),
  };
}

// Types text into a chat page's box and presses Send.
function say(frame, text) {
  const doc = frame.contentDocument;
  doc.getElementById("text").value = text;
  doc.getElementById("say").requestSubmit();
}

// All the waits together end 10 s after the page started.
const deadline = performance.now() + 10000;

// Resolves once test() holds, checked again whenever either chat page
// changes; rejects at the deadline.
function until(what, test) {
  return new Promise((resolve, reject) => {
    const observer = new MutationObserver(check);
    const timer = setTimeout(() => {
      observer.disconnect();
      reject(new Error("timed out waiting until " + what));
    }, deadline - performance.now());
    function check() {
      if (test()) {
        observer.disconnect();
        clearTimeout(timer);
        resolve();
      }
    }
    for (const frame of [a, b]) {
      observer.observe(frame.contentDocument.body, { childList: true, subtree: true, characterData: true });
    }
    check();
  });
}

const both = (test) => () => test(shown(a)) && test(shown(b));

async function converse() {
  await until("both pages are connected", both((page) => page.status === "connected"));
  say(a, "from-a");
  await until("both pages show from-a", both((page) => page.log.includes("from-a")));
  say(b, "from-b");
  await until("both pages show from-b", both((page) => page.log.includes("from-b")));
}

// The parent's load event comes after both chat pages have loaded.
const verdict = new Promise((resolve) => addEventListener("load", resolve))
  .then(converse)
  .then(() => ({}), (error) => ({ error: error.message }))
  .then((outcome) => {
    const seen = { ...outcome, a: shown(a), b: shown(b) };
    document.getElementById("verdict").textContent = JSON.stringify(seen);
  });
</script>
</body>
</html>
"##;

/// Browser is a headless Chromium driven over its DevTools protocol.
/// Dropping it closes the browser, then removes its profile directory.
struct Browser {
    pid: u32,
    exited: Receiver<std::io::Result<ExitStatus>>,
    /// The profile directory, removed once the browser has exited.
    _profile: TempDir,
    devtools: Option<tungstenite::WebSocket<MaybeTlsStream<TcpStream>>>,
    next_id: u64,
    /// Messages passed over while waiting for another (see [`Browser::next`]).
    unread: Vec<Value>,
}

impl Browser {
    /// Starts Chromium with a fresh profile and a DevTools port the
    /// system picks, and connects to it. `None` (the test skips) if no
    /// Chromium is installed (see [`chromium`]).
    fn launch() -> Option<Browser> {
        let exe = chromium()?;
        let profile = TempDir::new("browser-chat");
        let mut child = Command::new(exe)
            .args(CHROMIUM_FLAGS)
            .arg("--remote-debugging-port=0")
            .arg(format!("--user-data-dir={}", profile.0.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        // Chromium prints `DevTools listening on ws://...` on stderr; the
        // rest of stderr (its logging) is read and dropped, so that the
        // pipe never fills.
        let stderr = child.stderr.take().expect("piped");
        let (found, address) = channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = found.send(url.to_owned());
                }
            }
        });
        let pid = child.id();
        let (done, exited) = channel();
        thread::spawn(move || {
            let _ = done.send(child.wait());
        });
        let mut browser = Browser {
            pid,
            exited,
            _profile: profile,
            devtools: None,
            next_id: 0,
            unread: Vec::new(),
        };
        let url = address
            .recv_timeout(FAILSAFE)
            .expect("chromium prints its DevTools address");
        let (devtools, _) = tungstenite::connect(&url).expect("connect to DevTools");
        browser.devtools = Some(devtools);
        Some(browser)
    }

    /// Sends `method` to the browser, or to the page of `session`, and
    /// returns the call's id.
    fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> u64 {
        self.next_id += 1;
        let mut call = json!({ "id": self.next_id, "method": method, "params": params });
        if let Some(session) = session {
            call["sessionId"] = session.into();
        }
        self.devtools
            .as_mut()
            .expect("connected")
            .send(tungstenite::Message::text(call.to_string()))
            .expect("send to DevTools");
        self.next_id
    }

    /// Returns the first message from the browser (a reply or an event)
    /// that `wanted` accepts, keeping the others passed over for a later
    /// call. Fails if none came within [`FAILSAFE`].
    fn next(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.unread.iter().position(&wanted) {
            return self.unread.remove(i);
        }
        let devtools = self.devtools.as_mut().expect("connected");
        let deadline = Instant::now() + FAILSAFE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "DevTools did not answer in time");
            if let MaybeTlsStream::Plain(s) = devtools.get_ref() {
                s.set_read_timeout(Some(left)).unwrap();
            }
            let text = match devtools.read().expect("DevTools answers in time") {
                tungstenite::Message::Text(text) => text,
                _ => continue,
            };
            let message: Value = serde_json::from_str(&text).expect("DevTools speaks JSON");
            if wanted(&message) {
                return message;
            }
            self.unread.push(message);
        }
    }

    /// Calls `method` and returns its result, failing on an error reply.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.send(session, method, params);
        let mut reply = self.next(|m| m["id"] == id);
        assert!(reply.get("error").is_none(), "{method}: {reply}");
        reply["result"].take()
    }
}

impl Drop for Browser {
    /// Asks the browser to close (without waiting for the reply: this
    /// also runs when a test fails, and must not fail itself), waits for
    /// it to exit, and ends it by its PID if it has not after
    /// [`FAILSAFE`].
    fn drop(&mut self) {
        if let Some(devtools) = self.devtools.as_mut() {
            let close = json!({ "id": 0, "method": "Browser.close" });
            let _ = devtools.send(tungstenite::Message::text(close.to_string()));
        }
        if self.exited.recv_timeout(FAILSAFE).is_err() {
            let pid = self.pid.to_string();
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            let _ = self.exited.recv();
        }
    }
}

#[test]
fn two_browser_pages_see_each_others_messages() {
    // Eight workers: without epoll each connection holds one for its
    // life, and Chromium holds four here (two for the pages, the two
    // WebSockets), so half the pool is to spare.
    let srv = TestServer::with_app(server().threads(8), |stats| {
        app::app(stats).get("/test/two-chats", |_req| Response::html(TWO_CHATS_HTML))
    });
    let Some(mut browser) = Browser::launch() else {
        return;
    };
    let target = browser.call(None, "Target.createTarget", json!({ "url": "about:blank" }));
    let attached = browser.call(
        None,
        "Target.attachToTarget",
        json!({ "targetId": target["targetId"], "flatten": true }),
    );
    let session = attached["sessionId"]
        .as_str()
        .expect("a session")
        .to_owned();
    let page = Some(session.as_str());
    browser.call(page, "Page.enable", json!({}));
    browser.call(
        page,
        "Page.setLifecycleEventsEnabled",
        json!({ "enabled": true }),
    );
    let url = format!("http://{}/test/two-chats", srv.addr());
    let nav = browser.call(page, "Page.navigate", json!({ "url": url }));
    assert!(nav.get("errorText").is_none(), "navigate to {url}: {nav}");
    // The load of this navigation's document (its loader), not of the
    // blank page before it: then `verdict` exists.
    let loaded = |m: &Value| {
        m["method"] == "Page.lifecycleEvent"
            && m["params"]["name"] == "load"
            && m["params"]["loaderId"] == nav["loaderId"]
    };
    browser.next(loaded);
    let seen = browser.call(
        page,
        "Runtime.evaluate",
        json!({
            "expression": r#"verdict.then(() => document.getElementById("verdict").textContent)"#,
            "awaitPromise": true,
            "returnByValue": true,
        }),
    );
    let text = seen["result"]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("the verdict's text: {seen}"));
    let seen: Value = serde_json::from_str(text).expect("the verdict is JSON");
    let both = json!({ "status": "connected", "log": ["from-a", "from-b"] });
    assert_eq!(seen, json!({ "a": both, "b": both }));
}
