//! Queue priorities: the order in which a server tries its queues (asynq's weighted and
//! strict priority).

use std::collections::BTreeMap;

use rand::seq::SliceRandom;

/// Orders queues for one dequeue attempt.
pub(crate) fn queue_order(queues: &BTreeMap<String, u32>, strict: bool) -> Vec<String> {
    if queues.len() == 1 {
        return queues.keys().cloned().collect();
    }
    if strict {
        let mut v: Vec<(&String, &u32)> = queues.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        return v.into_iter().map(|(q, _)| q.clone()).collect();
    }
    // Weighted: each queue appears `priority / gcd` times; a uniform shuffle then keeps the
    // first occurrence of each, so queue q comes first with probability p_q / Σp.
    let g = queues.values().copied().fold(0, gcd).max(1);
    let mut slots: Vec<&String> = Vec::new();
    for (q, p) in queues {
        slots.extend(std::iter::repeat_n(q, (*p / g) as usize));
    }
    slots.shuffle(&mut rand::rng());
    let mut order: Vec<String> = Vec::with_capacity(queues.len());
    for q in slots {
        if !order.iter().any(|o| o == q) {
            order.push(q.clone());
        }
    }
    order
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_order_is_by_priority() {
        let q = BTreeMap::from([
            ("low".to_string(), 1),
            ("critical".to_string(), 6),
            ("default".to_string(), 3),
        ]);
        assert_eq!(queue_order(&q, true), ["critical", "default", "low"]);
    }

    #[test]
    fn weighted_order_picks_first_by_weight() {
        let q = BTreeMap::from([
            ("a".to_string(), 6),
            ("b".to_string(), 3),
            ("c".to_string(), 1),
        ]);
        let mut first = BTreeMap::<String, u32>::new();
        let n = 20_000;
        for _ in 0..n {
            let o = queue_order(&q, false);
            assert_eq!(o.len(), 3);
            *first.entry(o[0].clone()).or_default() += 1;
        }
        let share = |k: &str| f64::from(first[k]) / f64::from(n);
        assert!((share("a") - 0.6).abs() < 0.03, "{first:?}");
        assert!((share("b") - 0.3).abs() < 0.03, "{first:?}");
        assert!((share("c") - 0.1).abs() < 0.03, "{first:?}");
    }
}
