//! Loading of the recorded scenario files (`scenarios/<name>.json`).

use std::path::PathBuf;

use serde_json::Value;

use crate::expected::ExpectedDump;

/// The environment variable that overrides the location of the conformance folder.
pub const CONFORMANCE_DIR_ENV: &str = "REDISQ_CONFORMANCE_DIR";

/// The conformance data folder (`README.md`, `proto-vectors.json`, `scenarios/`).
///
/// `$REDISQ_CONFORMANCE_DIR` if set, else `shared/conformance` beside the repository checkout
/// (`<this crate>/../../../shared/conformance`).
pub fn conformance_dir() -> PathBuf {
    match std::env::var_os(CONFORMANCE_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/conformance"
        )),
    }
}

/// A recorded scenario (one `scenarios/<name>.json` file).
#[derive(Debug, Clone)]
pub struct Scenario {
    name: String,
    t0_unix_ns: i64,
    json: Value,
    steps: Vec<Step>,
}

impl Scenario {
    /// Loads `scenarios/<name>.json` (the `.json` suffix is optional) from
    /// [`conformance_dir`]. Panics with a clear message if the file is missing or malformed.
    pub fn load(name: &str) -> Scenario {
        let dir = conformance_dir();
        let file = name.strip_suffix(".json").unwrap_or(name);
        let path = dir.join("scenarios").join(format!("{file}.json"));
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                let available = if dir.join("scenarios").is_dir() {
                    format!("available scenarios: {}", Scenario::names().join(", "))
                } else {
                    format!(
                        "the conformance folder {} does not exist; set {CONFORMANCE_DIR_ENV} \
                         to the folder that holds README.md, proto-vectors.json and scenarios/",
                        dir.display()
                    )
                };
                panic!("cannot read scenario {}: {e}; {available}", path.display())
            }
        };
        let json: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()));
        Scenario::from_json(json)
            .unwrap_or_else(|e| panic!("malformed scenario {}: {e}", path.display()))
    }

    /// Builds a scenario from its parsed JSON.
    pub fn from_json(json: Value) -> Result<Scenario, String> {
        let name = json["scenario"]
            .as_str()
            .ok_or("missing `scenario`")?
            .to_owned();
        let t0_unix_ns = json["t0"]["unix_ns"]
            .as_i64()
            .ok_or("missing `t0.unix_ns`")?;
        let steps = json["steps"]
            .as_array()
            .ok_or("missing `steps`")?
            .iter()
            .map(|s| Step::from_json(&name, t0_unix_ns, s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Scenario {
            name,
            t0_unix_ns,
            json,
            steps,
        })
    }

    /// The names of all scenario files in [`conformance_dir`], sorted (without `.json`).
    pub fn names() -> Vec<String> {
        let dir = conformance_dir().join("scenarios");
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        let mut names: Vec<String> = entries
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".json").map(str::to_owned)
            })
            .collect();
        names.sort();
        names
    }

    /// The scenario name, e.g. `f_process_success`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The scenario's `t0` in unix nanoseconds (recorded run).
    pub fn t0_unix_ns(&self) -> i64 {
        self.t0_unix_ns
    }

    /// The steps (checkpoints), in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The step named `name`. Panics, listing the available names, if there is none.
    pub fn step(&self, name: &str) -> &Step {
        self.steps
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| {
                let names: Vec<&str> = self.steps.iter().map(|s| s.name.as_str()).collect();
                panic!(
                    "scenario `{}` has no step `{name}`; available steps: {}",
                    self.name,
                    names.join(", ")
                )
            })
    }

    /// The `config` object (server config / option values), or `Value::Null` if absent.
    pub fn config(&self) -> &Value {
        &self.json["config"]
    }

    /// The `description` text (the operations in Go API terms).
    pub fn description(&self) -> &str {
        self.json["description"].as_str().unwrap_or_default()
    }

    /// The whole scenario file as JSON.
    pub fn json(&self) -> &Value {
        &self.json
    }
}

/// One `get_task_info_after` entry: `Inspector.GetTaskInfo(queue, id)` right after the dump.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskInfoAfter {
    /// The queue passed to GetTaskInfo.
    pub queue: String,
    /// The task ID passed to GetTaskInfo.
    pub id: String,
    /// The TaskInfo JSON, or `None` if GetTaskInfo failed.
    pub task_info: Option<Value>,
    /// The Go error text, e.g. `asynq: task not found`, or `None` on success.
    pub error: Option<String>,
}

/// One recorded checkpoint of a scenario.
#[derive(Debug, Clone)]
pub struct Step {
    scenario: String,
    t0_unix_ns: i64,
    name: String,
    json: Value,
}

impl Step {
    fn from_json(scenario: &str, t0_unix_ns: i64, json: &Value) -> Result<Step, String> {
        let name = json["name"]
            .as_str()
            .ok_or("step without `name`")?
            .to_owned();
        if !json["dump"]["keys"].is_object() {
            return Err(format!("step `{name}` has no `dump.keys` object"));
        }
        Ok(Step {
            scenario: scenario.to_owned(),
            t0_unix_ns,
            name,
            json: json.clone(),
        })
    }

    /// The step name, e.g. `after_enqueue`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name of the scenario this step belongs to.
    pub fn scenario_name(&self) -> &str {
        &self.scenario
    }

    /// The recorded scenario's `t0` in unix nanoseconds.
    pub fn t0_unix_ns(&self) -> i64 {
        self.t0_unix_ns
    }

    /// The `operation` text of the step.
    pub fn operation(&self) -> &str {
        self.json["operation"].as_str().unwrap_or_default()
    }

    /// When the step's operation began, relative to t0, in seconds (recorded run).
    pub fn started_t0_offset_s(&self) -> f64 {
        self.json["started_t0_offset_s"].as_f64().unwrap_or(0.0)
    }

    /// The raw `api_results` entries (API calls and callbacks observed since the previous
    /// step).
    pub fn api_results(&self) -> &[Value] {
        self.json["api_results"]
            .as_array()
            .map_or(&[], Vec::as_slice)
    }

    /// The raw `get_task_info_after` entries.
    pub fn get_task_info_after_json(&self) -> &[Value] {
        self.json["get_task_info_after"]
            .as_array()
            .map_or(&[], Vec::as_slice)
    }

    /// The `get_task_info_after` entries, typed.
    pub fn get_task_info_after(&self) -> Vec<TaskInfoAfter> {
        self.get_task_info_after_json()
            .iter()
            .map(|e| TaskInfoAfter {
                queue: e["queue"].as_str().unwrap_or_default().to_owned(),
                id: e["id"].as_str().unwrap_or_default().to_owned(),
                task_info: match &e["task_info"] {
                    Value::Null => None,
                    v => Some(v.clone()),
                },
                error: e["error"].as_str().map(str::to_owned),
            })
            .collect()
    }

    /// The `get_task_info_after` entry for task `id`. Panics, listing the recorded IDs, if
    /// there is none.
    pub fn task_info_after(&self, id: &str) -> TaskInfoAfter {
        let all = self.get_task_info_after();
        let ids: Vec<String> = all.iter().map(|e| e.id.clone()).collect();
        all.into_iter().find(|e| e.id == id).unwrap_or_else(|| {
            panic!(
                "scenario `{}` step `{}` has no get_task_info_after entry for `{id}`; \
                 recorded IDs: {}",
                self.scenario,
                self.name,
                ids.join(", ")
            )
        })
    }

    /// The raw recorded `dump` object (`redis_time`, `key_count`, `keys`).
    pub fn dump_json(&self) -> &Value {
        &self.json["dump"]
    }

    /// The whole step as JSON.
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// The recorded dump as a typed, editable expectation (see [`ExpectedDump`]). Panics if
    /// the recording is malformed.
    pub fn expected_dump(&self) -> ExpectedDump {
        ExpectedDump::from_recorded(self).unwrap_or_else(|e| {
            panic!(
                "malformed dump in scenario `{}` step `{}`: {e}",
                self.scenario, self.name
            )
        })
    }
}
