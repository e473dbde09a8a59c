//! BLEU matches sacreBLEU's own numbers on fixed sentences (fixtures:
//! `tests/fixtures/bleu.py`): score, brevity penalty, lengths, precisions.

use seq_train::metrics::bleu::corpus_bleu;

struct Case {
    name: String,
    expected: Vec<f64>, // score, bp, hyp_len, ref_len, p1..p4
    hyps: Vec<String>,
    refs: Vec<Vec<String>>,
}

fn cases() -> Vec<Case> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/bleu/cases.txt"
    );
    let text = std::fs::read_to_string(path).expect("the sacreBLEU fixture");
    let mut cases: Vec<Case> = Vec::new();
    for line in text.lines() {
        if let Some(head) = line.strip_prefix("# ") {
            let mut parts = head.split(' ');
            let name = parts.next().unwrap().to_string();
            let expected = parts.map(|v| v.parse().unwrap()).collect();
            cases.push(Case {
                name,
                expected,
                hyps: vec![],
                refs: vec![],
            });
        } else if let Some((tag, text)) = line.split_once('\t') {
            let case = cases.last_mut().unwrap();
            let text = text.replace("\\n", "\n");
            match tag {
                "H" => case.hyps.push(text),
                r => {
                    let k: usize = r[1..].parse().unwrap();
                    if case.refs.len() <= k {
                        case.refs.resize(k + 1, vec![]);
                    }
                    case.refs[k].push(text);
                }
            }
        }
    }
    cases
}

#[test]
fn corpus_bleu_matches_sacrebleu() {
    let cases = cases();
    assert_eq!(cases.len(), 7);
    for c in cases {
        let hyps: Vec<&str> = c.hyps.iter().map(String::as_str).collect();
        let refs: Vec<Vec<&str>> = c
            .refs
            .iter()
            .map(|s| s.iter().map(String::as_str).collect())
            .collect();
        let b = corpus_bleu(&hyps, &refs).unwrap();
        let ours = [
            b.score,
            b.brevity_penalty,
            b.hyp_len as f64,
            b.ref_len as f64,
            b.precisions[0],
            b.precisions[1],
            b.precisions[2],
            b.precisions[3],
        ];
        for (i, (o, e)) in ours.iter().zip(&c.expected).enumerate() {
            assert!(
                (o - e).abs() < 1e-9,
                "{}: field {i}: ours {o}, sacreBLEU {e}",
                c.name
            );
        }
    }
}
