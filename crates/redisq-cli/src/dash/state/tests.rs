//! Scenarios that drive the state machine through key presses and fixture answers.

use super::*;
use crate::dash::fixtures;

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

/// Answers a fetch with the fixture data, as fetch.rs would.
fn answer(state: &mut DashState, action: Action) -> Action {
    let Action::Fetch { seq, request } = action else {
        panic!("expected a fetch, got {action:?}");
    };
    let result = fixtures::answer(&request);
    state.apply(Outcome::Fetched {
        seq,
        request,
        at: fixtures::now(),
        result: Ok(result),
    })
}

/// A state on the queues screen with the fixture queues loaded.
fn loaded() -> DashState {
    let mut s = DashState::new(Duration::from_secs(8), 5);
    let a = s.refresh();
    assert_eq!(answer(&mut s, a), Action::None);
    s
}

fn detail(s: &DashState) -> QueueView {
    match s.screen() {
        Screen::QueueDetail(v) => v.clone(),
        other => panic!("expected the queue detail, got {other:?}"),
    }
}

#[test]
fn starts_on_queues_and_fetches_them() {
    let mut s = DashState::new(Duration::from_secs(8), 20);
    assert_eq!(s.screen(), &Screen::Queues { selected: 0 });
    assert_eq!(
        s.refresh(),
        Action::Fetch {
            seq: 1,
            request: FetchRequest::Queues
        }
    );
    assert_eq!(
        s.handle_key(ctrl('l')),
        Action::Fetch {
            seq: 2,
            request: FetchRequest::Queues
        }
    );
}

#[test]
fn moves_the_queue_selection_within_bounds() {
    let mut s = loaded();
    let n = s.data.queues.len();
    assert_eq!(s.handle_key(key('k')), Action::None);
    assert_eq!(s.screen(), &Screen::Queues { selected: 0 });
    s.handle_key(key('j'));
    s.handle_key(code(KeyCode::Down));
    assert_eq!(s.screen(), &Screen::Queues { selected: 2 });
    for _ in 0..10 {
        s.handle_key(key('j'));
    }
    assert_eq!(s.screen(), &Screen::Queues { selected: n - 1 });
    s.handle_key(code(KeyCode::Up));
    assert_eq!(s.screen(), &Screen::Queues { selected: n - 2 });
    s.handle_key(code(KeyCode::Home));
    assert_eq!(s.screen(), &Screen::Queues { selected: 0 });
    s.handle_key(code(KeyCode::End));
    assert_eq!(s.screen(), &Screen::Queues { selected: n - 1 });
}

#[test]
fn enter_opens_the_queue_and_esc_goes_back() {
    let mut s = loaded();
    s.handle_key(key('j'));
    let queue = s.data.queues[1].name.clone();
    let a = s.handle_key(code(KeyCode::Enter));
    assert_eq!(
        a,
        Action::Fetch {
            seq: 2,
            request: FetchRequest::Queue {
                queue: queue.clone(),
                list: Some(TaskList {
                    tab: Tab::Active,
                    group: None,
                    page: 1,
                    page_size: 5
                })
            }
        }
    );
    assert_eq!(detail(&s).queue, queue);
    let a = s.handle_key(code(KeyCode::Esc));
    assert!(matches!(
        a,
        Action::Fetch {
            request: FetchRequest::Queues,
            ..
        }
    ));
    assert_eq!(s.screen(), &Screen::Queues { selected: 1 });
    // Esc on the first screen does nothing; q quits from anywhere.
    assert_eq!(s.handle_key(code(KeyCode::Esc)), Action::None);
    assert_eq!(s.handle_key(key('q')), Action::Quit);
    assert_eq!(s.handle_key(ctrl('c')), Action::Quit);
}

/// Opens the `default` queue of the fixtures and loads its first page.
fn open_default() -> DashState {
    let mut s = loaded();
    let i = s
        .data
        .queues
        .iter()
        .position(|q| q.name == "default")
        .expect("fixture queue");
    for _ in 0..i {
        s.handle_key(key('j'));
    }
    let a = s.handle_key(code(KeyCode::Enter));
    assert_eq!(answer(&mut s, a), Action::None);
    s
}

#[test]
fn switches_tabs_with_h_l_tab_and_digits() {
    let mut s = open_default();
    assert_eq!(detail(&s).tab, Tab::Active);
    let a = s.handle_key(key('l'));
    assert_eq!(detail(&s).tab, Tab::Pending);
    assert!(matches!(a, Action::Fetch { .. }));
    s.handle_key(code(KeyCode::Tab));
    assert_eq!(detail(&s).tab, Tab::Aggregating);
    s.handle_key(code(KeyCode::Right));
    assert_eq!(detail(&s).tab, Tab::Scheduled);
    s.handle_key(key('h'));
    s.handle_key(code(KeyCode::Left));
    assert_eq!(detail(&s).tab, Tab::Pending);
    s.handle_key(code(KeyCode::BackTab));
    assert_eq!(detail(&s).tab, Tab::Active);
    // Wraps around.
    s.handle_key(key('h'));
    assert_eq!(detail(&s).tab, Tab::Completed);
    s.handle_key(key('l'));
    assert_eq!(detail(&s).tab, Tab::Active);
    s.handle_key(key('5'));
    assert_eq!(detail(&s).tab, Tab::Retry);
    // The same tab again asks for nothing.
    assert_eq!(s.handle_key(key('5')), Action::None);
}

#[test]
fn switching_tabs_resets_page_and_selection() {
    let mut s = open_default();
    let a = s.handle_key(key('2')); // pending: 12 tasks, pages of 5
    answer(&mut s, a);
    s.handle_key(key('j'));
    let a = s.handle_key(key(']'));
    answer(&mut s, a);
    s.handle_key(key('j'));
    assert_eq!((detail(&s).page, detail(&s).selected), (2, 1));
    let a = s.handle_key(key('l'));
    answer(&mut s, a);
    assert_eq!((detail(&s).page, detail(&s).selected), (1, 0));
}

#[test]
fn pages_forward_and_back_within_the_total() {
    let mut s = open_default();
    let a = s.handle_key(key('2'));
    answer(&mut s, a);
    assert_eq!(s.pages_of(&detail(&s)), Some(3));
    assert_eq!(s.tasks_of(&detail(&s)).map(<[TaskRow]>::len), Some(5));
    assert_eq!(s.handle_key(key('[')), Action::None); // no page 0
    let a = s.handle_key(key(']'));
    match &a {
        Action::Fetch {
            request: FetchRequest::Queue {
                list: Some(list), ..
            },
            ..
        } => assert_eq!((list.tab, list.page, list.page_size), (Tab::Pending, 2, 5)),
        other => panic!("unexpected {other:?}"),
    }
    answer(&mut s, a);
    let a = s.handle_key(code(KeyCode::PageDown));
    answer(&mut s, a);
    assert_eq!(detail(&s).page, 3);
    assert_eq!(s.tasks_of(&detail(&s)).map(<[TaskRow]>::len), Some(2));
    // The last page: no further.
    assert_eq!(s.handle_key(key(']')), Action::None);
    // The selection stays inside the short last page.
    for _ in 0..4 {
        s.handle_key(key('j'));
    }
    assert_eq!(detail(&s).selected, 1);
    let a = s.handle_key(code(KeyCode::PageUp));
    answer(&mut s, a);
    assert_eq!((detail(&s).page, detail(&s).selected), (2, 0));
    let a = s.handle_key(ctrl('b'));
    answer(&mut s, a);
    assert_eq!(detail(&s).page, 1);
}

#[test]
fn steps_back_when_the_page_vanished() {
    let mut s = open_default();
    let a = s.handle_key(key('2'));
    answer(&mut s, a);
    let a = s.handle_key(key(']'));
    answer(&mut s, a);
    let a = s.handle_key(key(']'));
    answer(&mut s, a);
    assert_eq!(detail(&s).page, 3);
    // The queue shrinks to 6 pending tasks: page 3 no longer exists.
    let Action::Fetch { seq, request } = s.refresh() else {
        panic!()
    };
    let Fetched::Queue {
        mut info, groups, ..
    } = fixtures::answer(&request)
    else {
        panic!()
    };
    info.pending = 6;
    let a = s.apply(Outcome::Fetched {
        seq,
        request,
        at: fixtures::now(),
        result: Ok(Fetched::Queue {
            info,
            groups,
            tasks: Vec::new(),
        }),
    });
    assert_eq!(detail(&s).page, 2);
    assert!(matches!(a, Action::Fetch { .. }));
}

#[test]
fn aggregating_tab_picks_the_first_group_and_groups_screen_selects_one() {
    let mut s = open_default();
    let a = s.handle_key(key('3'));
    assert_eq!(detail(&s).tab, Tab::Aggregating);
    // The groups were fetched with the queue: the first is picked right away.
    assert_eq!(detail(&s).group.as_deref(), Some("batch:eu"));
    answer(&mut s, a);
    assert_eq!(s.tasks_of(&detail(&s)).map(<[TaskRow]>::len), Some(3));
    // g lists the groups; Enter on the second shows its tasks.
    let a = s.handle_key(key('g'));
    assert!(matches!(s.screen(), Screen::Groups { .. }));
    answer(&mut s, a);
    s.handle_key(key('j'));
    let a = s.handle_key(code(KeyCode::Enter));
    assert_eq!(detail(&s).group.as_deref(), Some("batch:us"));
    assert_eq!(detail(&s).tab, Tab::Aggregating);
    assert_eq!(s.stack().len(), 2, "the groups screen was replaced");
    answer(&mut s, a);
    assert_eq!(s.pages_of(&detail(&s)), Some(1));
}

#[test]
fn aggregating_tab_without_known_groups_picks_one_after_the_fetch() {
    let mut s = loaded();
    let i = s
        .data
        .queues
        .iter()
        .position(|q| q.name == "default")
        .expect("fixture queue");
    for _ in 0..i {
        s.handle_key(key('j'));
    }
    s.handle_key(code(KeyCode::Enter)); // not answered: groups unknown
    let a = s.handle_key(key('3'));
    assert_eq!(detail(&s).group, None);
    let again = answer(&mut s, a);
    assert_eq!(detail(&s).group.as_deref(), Some("batch:eu"));
    assert!(matches!(again, Action::Fetch { .. }));
}

#[test]
fn enter_opens_the_task_and_x_toggles_hex() {
    let mut s = open_default();
    let a = s.handle_key(key('2'));
    answer(&mut s, a);
    s.handle_key(key('j'));
    let id = s.tasks_of(&detail(&s)).expect("tasks")[1].id.clone();
    let a = s.handle_key(code(KeyCode::Enter));
    assert_eq!(
        a,
        Action::Fetch {
            seq: 4,
            request: FetchRequest::Task {
                queue: "default".into(),
                id: id.clone()
            }
        }
    );
    answer(&mut s, a);
    let Screen::TaskDetail(t) = s.screen().clone() else {
        panic!()
    };
    assert_eq!((t.id.as_str(), t.hex), (id.as_str(), false));
    s.handle_key(key('x'));
    s.handle_key(key('j'));
    s.handle_key(key('j'));
    s.handle_key(key('k'));
    let Screen::TaskDetail(t) = s.screen().clone() else {
        panic!()
    };
    assert_eq!((t.hex, t.scroll), (true, 1));
    s.handle_key(key('x'));
    assert!(matches!(s.screen(), Screen::TaskDetail(t) if !t.hex));
    s.handle_key(code(KeyCode::Esc));
    assert_eq!(detail(&s).selected, 1);
}

#[test]
fn help_toggles_over_any_screen() {
    let mut s = open_default();
    let before = s.screen().clone();
    assert_eq!(s.handle_key(key('?')), Action::None);
    assert_eq!(s.screen(), &Screen::Help);
    // The data stays the one of the screen below.
    assert!(matches!(s.fetch_request(), FetchRequest::Queue { .. }));
    // Keys of other screens do nothing in the help.
    assert_eq!(s.handle_key(key('j')), Action::None);
    assert_eq!(s.handle_key(key('d')), Action::None);
    assert_eq!(s.confirm, None);
    assert_eq!(s.handle_key(key('?')), Action::None);
    assert_eq!(s.screen(), &before);
    s.handle_key(key('?'));
    assert_eq!(s.handle_key(code(KeyCode::Esc)), Action::None);
    assert_eq!(s.screen(), &before);
    s.handle_key(key('?'));
    assert_eq!(s.handle_key(key('q')), Action::Quit);
}

#[test]
fn servers_screen_and_selection() {
    let mut s = loaded();
    let a = s.handle_key(key('s'));
    assert_eq!(
        a,
        Action::Fetch {
            seq: 2,
            request: FetchRequest::Servers
        }
    );
    answer(&mut s, a);
    s.handle_key(key('j'));
    s.handle_key(key('j'));
    assert_eq!(s.screen(), &Screen::Servers { selected: 1 });
    // s again does not stack another servers screen.
    assert_eq!(s.handle_key(key('s')), Action::None);
    s.handle_key(code(KeyCode::Esc));
    assert!(matches!(s.screen(), Screen::Queues { .. }));
}

/// Selects the first task of a tab of `default`.
fn on_tab(tab: char) -> DashState {
    let mut s = open_default();
    let a = s.handle_key(key(tab));
    if a != Action::None {
        answer(&mut s, a);
    }
    s
}

#[test]
fn confirmation_y_runs_the_action() {
    let mut s = on_tab('2');
    let id = s.tasks_of(&detail(&s)).expect("tasks")[0].id.clone();
    assert_eq!(s.handle_key(key('d')), Action::None);
    let confirm = s.confirm.clone().expect("a question");
    assert_eq!(
        confirm.prompt,
        format!("Delete task {id} of queue default?")
    );
    // Other keys leave the question open and do nothing.
    assert_eq!(s.handle_key(key('j')), Action::None);
    assert_eq!(s.handle_key(key('q')), Action::None);
    assert!(s.confirm.is_some());
    let a = s.handle_key(key('y'));
    assert_eq!(
        a,
        Action::DeleteTask {
            queue: "default".into(),
            id: id.clone()
        }
    );
    assert_eq!(s.confirm, None);
    // The result shows in the status line, then the screen is refreshed.
    let next = s.apply(Outcome::Done {
        action: a,
        result: Ok(()),
    });
    assert!(matches!(next, Action::Fetch { .. }));
    let status = s.status.clone().expect("status");
    assert_eq!(status.text, format!("Task {id} deleted."));
    assert!(!status.error);
}

#[test]
fn confirmation_n_or_esc_cancels() {
    let mut s = on_tab('2');
    s.handle_key(key('a'));
    assert!(s.confirm.is_some());
    assert_eq!(s.handle_key(key('n')), Action::None);
    assert_eq!(s.confirm, None);
    assert_eq!(
        s.status.as_ref().map(|s| s.text.as_str()),
        Some("Cancelled.")
    );
    s.handle_key(key('a'));
    assert_eq!(s.handle_key(code(KeyCode::Esc)), Action::None);
    assert_eq!(s.confirm, None);
    // Esc cancelled the question only; the screen is unchanged.
    assert_eq!(detail(&s).tab, Tab::Pending);
}

#[test]
fn actions_not_allowed_in_a_state_are_refused_without_asking() {
    let mut s = on_tab('2'); // pending
    assert_eq!(s.handle_key(key('r')), Action::None);
    assert_eq!(s.confirm, None);
    assert!(s.status.as_ref().is_some_and(|s| s.error));
    assert_eq!(s.handle_key(key('c')), Action::None);
    assert_eq!(s.confirm, None);
    let mut s = on_tab('1'); // active
    s.handle_key(key('d'));
    assert_eq!(s.confirm, None);
    s.handle_key(key('c'));
    let a = s.confirm.clone().expect("cancel is asked").action;
    assert!(matches!(a, Action::CancelTask { .. }));
    let mut s = on_tab('6'); // archived
    s.handle_key(key('r'));
    assert!(matches!(
        s.confirm.clone().map(|c| c.action),
        Some(Action::RunTask { .. })
    ));
}

#[test]
fn deleting_from_the_task_detail_goes_back_to_the_list() {
    let mut s = on_tab('6');
    let a = s.handle_key(code(KeyCode::Enter));
    answer(&mut s, a);
    s.handle_key(code(KeyCode::Delete));
    let a = s.handle_key(key('y'));
    assert!(matches!(a, Action::DeleteTask { .. }));
    let next = s.apply(Outcome::Done {
        action: a,
        result: Ok(()),
    });
    assert_eq!(detail(&s).tab, Tab::Archived);
    assert!(matches!(
        next,
        Action::Fetch {
            request: FetchRequest::Queue { .. },
            ..
        }
    ));
}

#[test]
fn pause_asks_and_resume_when_paused() {
    let mut s = loaded();
    s.handle_key(key('p'));
    let q = s.data.queues[0].name.clone();
    assert_eq!(
        s.confirm.clone().map(|c| c.action),
        Some(Action::PauseQueue { queue: q.clone() })
    );
    assert_eq!(
        s.handle_key(key('Y')),
        Action::PauseQueue { queue: q.clone() }
    );
    let paused = s
        .data
        .queues
        .iter()
        .find(|q| q.paused)
        .expect("a paused fixture queue")
        .name
        .clone();
    let i = s.data.queues.iter().position(|q| q.name == paused).unwrap();
    s.handle_key(code(KeyCode::Home));
    for _ in 0..i {
        s.handle_key(key('j'));
    }
    s.handle_key(key('p'));
    assert_eq!(
        s.confirm.clone().map(|c| c.action),
        Some(Action::UnpauseQueue { queue: paused })
    );
}

#[test]
fn errors_go_to_the_status_line() {
    let mut s = loaded();
    let Action::Fetch { seq, request } = s.refresh() else {
        panic!()
    };
    let queues_before = s.data.queues.len();
    s.apply(Outcome::Fetched {
        seq,
        request,
        at: fixtures::now(),
        result: Err("Connection refused (os error 111)".into()),
    });
    let st = s.status.clone().expect("status");
    assert!(st.error);
    assert_eq!(st.text, "Redis: Connection refused (os error 111)");
    // The old data stays; a key does not hide a fetch error, a good fetch does.
    assert_eq!(s.data.queues.len(), queues_before);
    s.handle_key(key('j'));
    assert!(s.status.is_some());
    let a = s.refresh();
    answer(&mut s, a);
    assert_eq!(s.status, None);
    // A failed action reports and refreshes.
    let action = Action::PauseQueue {
        queue: "critical".into(),
    };
    let next = s.apply(Outcome::Done {
        action,
        result: Err("queue \"critical\" is already paused".into()),
    });
    assert!(matches!(next, Action::Fetch { .. }));
    assert_eq!(
        s.status.clone().map(|s| s.text),
        Some("Could not pause queue critical: queue \"critical\" is already paused".into())
    );
    // An action message goes away with the next key.
    s.handle_key(key('j'));
    assert_eq!(s.status, None);
}

#[test]
fn stale_answers_are_dropped() {
    let mut s = loaded();
    let old = s.refresh();
    let new = s.refresh();
    answer(&mut s, new);
    let Action::Fetch { seq, request } = old else {
        panic!()
    };
    s.apply(Outcome::Fetched {
        seq,
        request,
        at: fixtures::now(),
        result: Ok(Fetched::Queues(Vec::new())),
    });
    assert!(!s.data.queues.is_empty());
}

#[test]
fn answers_for_another_list_are_not_shown_as_this_one() {
    let mut s = on_tab('2');
    // Switch to retry, but the pending answer arrives (late) afterwards.
    let Action::Fetch { seq, request } = s.refresh() else {
        panic!()
    };
    s.handle_key(key('5'));
    let result = fixtures::answer(&request);
    s.apply(Outcome::Fetched {
        seq,
        request,
        at: fixtures::now(),
        result: Ok(result),
    });
    assert_eq!(s.tasks_of(&detail(&s)), None);
}

#[test]
fn page_size_changes_keep_the_first_task_visible() {
    let mut s = on_tab('2');
    let a = s.handle_key(key(']'));
    answer(&mut s, a);
    s.handle_key(key('j'));
    s.handle_key(key('j')); // task 8 of 12 (index 7)
    let a = s.set_page_size(3);
    assert!(matches!(a, Action::Fetch { .. }));
    assert_eq!((detail(&s).page, detail(&s).selected), (3, 1));
    assert_eq!(s.set_page_size(3), Action::None);
}
