//! Snapshot tests: every screen rendered from the fixtures into a 100×30 buffer and compared
//! with the text in `snapshots/<name>.txt`. Run with `REDISQ_UPDATE_SNAPSHOTS=1` to rewrite
//! the files after an intended change, then review the diff.

use std::path::PathBuf;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::fixtures::{self, render_text};
use super::state::{Action, DashState, Outcome};

const WIDTH: u16 = 100;
const HEIGHT: u16 = 30;

fn snapshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/dash/snapshots")
}

/// Compares the rendered state with its snapshot (or rewrites it).
fn check(name: &str, state: &DashState) {
    let actual = render_text(state, WIDTH, HEIGHT, fixtures::now());
    let path = snapshot_dir().join(format!("{name}.txt"));
    if std::env::var_os("REDISQ_UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(snapshot_dir()).expect("create the snapshot directory");
        std::fs::write(&path, &actual).expect("write the snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}\nrun with REDISQ_UPDATE_SNAPSHOTS=1 to create it; it would be:\n{actual}",
            path.display()
        )
    });
    if expected != actual {
        let mut diff = String::new();
        let (e, a): (Vec<_>, Vec<_>) = (expected.lines().collect(), actual.lines().collect());
        for i in 0..e.len().max(a.len()) {
            let (el, al) = (e.get(i).copied(), a.get(i).copied());
            if el != al {
                diff.push_str(&format!(
                    "line {:>2} expected: {}\nline {:>2} actual:   {}\n",
                    i + 1,
                    el.unwrap_or("<none>"),
                    i + 1,
                    al.unwrap_or("<none>")
                ));
            }
        }
        panic!(
            "screen {name} differs from {} (REDISQ_UPDATE_SNAPSHOTS=1 rewrites it):\n{diff}\nwhole screen:\n{actual}",
            path.display()
        );
    }
}

/// Presses keys, answering every fetch from the fixtures (other actions are left undone).
fn press(state: &mut DashState, keys: &[KeyCode]) {
    for code in keys {
        let action = state.handle_key(KeyEvent::new(*code, KeyModifiers::NONE));
        settle(state, action);
    }
}

fn settle(state: &mut DashState, mut action: Action) {
    while let Action::Fetch { seq, request } = action {
        let result = Ok(fixtures::answer(&request));
        action = state.apply(Outcome::Fetched {
            seq,
            request,
            at: fixtures::now() - Duration::from_secs(3),
            result,
        });
    }
}

use KeyCode::{Char, Enter};

/// The queues screen, loaded, with `default` selected.
fn queues() -> DashState {
    let mut s = DashState::new(Duration::from_secs(8), super::view::page_size_for(HEIGHT));
    let first = s.refresh();
    settle(&mut s, first);
    press(&mut s, &[Char('j')]);
    s
}

#[test]
fn loading() {
    let s = DashState::new(Duration::from_secs(8), 20);
    check("loading", &s);
}

#[test]
fn queues_screen() {
    check("queues", &queues());
}

#[test]
fn queue_detail_pending() {
    let mut s = queues();
    press(&mut s, &[Enter, Char('l'), Char('j'), Char('j')]);
    check("queue_detail_pending", &s);
}

#[test]
fn queue_detail_retry() {
    let mut s = queues();
    press(&mut s, &[Enter, Char('5')]);
    check("queue_detail_retry", &s);
}

#[test]
fn queue_detail_archived() {
    let mut s = queues();
    press(&mut s, &[Enter, Char('6'), Char('j')]);
    check("queue_detail_archived", &s);
}

#[test]
fn queue_detail_completed() {
    let mut s = queues();
    press(&mut s, &[Enter, Char('7')]);
    check("queue_detail_completed", &s);
}

#[test]
fn queue_detail_active() {
    let mut s = queues();
    press(&mut s, &[Enter]);
    check("queue_detail_active", &s);
}

#[test]
fn queue_detail_aggregating() {
    let mut s = queues();
    press(&mut s, &[Enter, Char('3')]);
    check("queue_detail_aggregating", &s);
}

#[test]
fn queue_detail_paged_paused_queue() {
    let mut s = queues();
    press(
        &mut s,
        &[
            Char('j'),
            Enter,
            Char('2'),
            Char(']'),
            Char(']'),
            KeyCode::End,
        ],
    );
    check("queue_detail_page3_paused", &s);
}

#[test]
fn task_detail_text() {
    let mut s = queues();
    press(&mut s, &[Enter, Char('5'), Enter]);
    check("task_detail_text", &s);
}

#[test]
fn task_detail_hex_toggled() {
    let mut s = queues();
    press(&mut s, &[Enter, Char('5'), Enter, Char('x')]);
    check("task_detail_hex", &s);
}

#[test]
fn task_detail_binary_payload() {
    let mut s = queues();
    press(&mut s, &[Enter, Char('6'), Char('j'), Enter]);
    check("task_detail_binary", &s);
}

#[test]
fn groups_screen() {
    let mut s = queues();
    press(&mut s, &[Char('g'), Char('j')]);
    check("groups", &s);
}

#[test]
fn servers_screen() {
    let mut s = queues();
    press(&mut s, &[Char('s')]);
    check("servers", &s);
}

#[test]
fn help_screen() {
    let mut s = queues();
    press(&mut s, &[Enter, Char('?')]);
    check("help", &s);
}

#[test]
fn confirmation_dialog() {
    let mut s = queues();
    press(&mut s, &[Enter, Char('2'), Char('j'), Char('d')]);
    assert!(s.confirm.is_some());
    check("confirm_delete", &s);
}

#[test]
fn error_status_line() {
    let mut s = queues();
    let Action::Fetch { seq, request } = s.refresh() else {
        panic!("expected a fetch");
    };
    s.apply(Outcome::Fetched {
        seq,
        request,
        at: fixtures::now(),
        result: Err("Connection refused (os error 111)".into()),
    });
    check("error_status", &s);
}

#[test]
fn hostile_strings_are_escaped() {
    let mut s = queues();
    press(&mut s, &[Enter, Char('2'), Enter]);
    // A task whose fields carry terminal escape sequences.
    let mut task = s.data.task.clone().expect("task loaded");
    task.task_type = "evil\u{1b}[2J\u{7}".into();
    task.last_err = "boom\u{1b}]0;title\u{7}".into();
    task.payload = b"\x1b[31mred".to_vec();
    s.data.task = Some(task);
    let text = render_text(&s, WIDTH, HEIGHT, fixtures::now());
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text}"
    );
    assert!(text.contains("evil\\u{1b}[2J\\u{7}"), "{text}");
}

#[test]
fn small_terminals_do_not_panic() {
    let mut s = queues();
    for (w, h) in [(1, 1), (10, 4), (40, 10), (60, 12), (200, 60)] {
        for keys in [
            &[][..],
            &[Enter][..],
            &[Char('s')][..],
            &[Char('?')][..],
            &[Char('?'), Enter, Char('5'), Enter, Char('x')][..],
            &[Char('d')][..],
        ] {
            press(&mut s, keys);
            let _ = render_text(&s, w, h, fixtures::now());
        }
    }
}
