//! The tape printer and the Graphviz export: what they list, in which order, and that the DOT
//! text is well formed (checked by a small parser here, and by Graphviz itself when installed).

use std::collections::HashSet;
use std::io::Write;
use std::process::{Command, Stdio};

use autograd::{NodeKind, Var, dot, graph_nodes, live_nodes, no_grad, tape};
use tensor::Tensor;

fn vec_param(values: &[f64], label: &str) -> Var<f64> {
    Var::parameter(Tensor::from_vec(values.to_vec(), &[values.len()])).labeled(label)
}

/// y = sum(a * x + a) with a parameter `a` and a constant `x`, both of shape [2].
fn small_graph() -> (Var<f64>, Var<f64>, Var<f64>) {
    let a = vec_param(&[1.0, 2.0], "a");
    let x = Var::constant(Tensor::from_vec(vec![3.0, -1.0], &[2])).labeled("x");
    let y = (&(&a * &x) + &a).sum_all().labeled("y");
    (a, x, y)
}

// ---------------------------------------------------------------- tape

#[test]
fn tape_lists_nodes_in_topological_order_with_constants() {
    let (_a, _x, y) = small_graph();
    let t = tape(&y);
    let kinds: Vec<String> = t.entries().iter().map(|e| e.kind.to_string()).collect();
    assert_eq!(kinds, ["param", "const", "mul", "add", "sum_all"]);
    let inputs: Vec<Vec<usize>> = t.entries().iter().map(|e| e.inputs.clone()).collect();
    assert_eq!(inputs, [vec![], vec![], vec![0, 1], vec![2, 0], vec![3]]);
    let e = &t.entries()[2];
    assert_eq!(e.input_shapes, [vec![2], vec![2]]);
    assert_eq!(e.shape, vec![2]);
    assert_eq!(t.entries()[4].shape, Vec::<usize>::new());
    assert_eq!(t.entries()[0].label.as_deref(), Some("a"));
    assert_eq!(t.entries()[1].kind, NodeKind::Const);
    assert_eq!(t.entries()[2].label, None);
    assert!(t.entries().iter().all(|e| e.grad_norm.is_none()));
    for (i, e) in t.entries().iter().enumerate() {
        assert_eq!(e.index, i);
        assert!(e.inputs.iter().all(|&k| k < i), "entry {i} reads a later entry");
    }
}

#[test]
fn tape_prints_a_table() {
    let (_a, _x, y) = small_graph();
    let expected = "\
#  label  op       inputs  input shapes  shape
0  a      param    -       -             [2]
1  x      const    -       -             [2]
2  -      mul      0, 1    [2], [2]      [2]
3  -      add      2, 0    [2], [2]      [2]
4  y      sum_all  3       [2]           []
";
    assert_eq!(tape(&y).to_string(), expected);
}

#[test]
fn tape_with_gradients_shows_their_norms() {
    let (a, x, y) = small_graph();
    // dy/da = x + 1 = [4, 0]; every intermediate's gradient is ones(2), norm sqrt(2).
    let all = y.backward_retain_all();
    let t = tape(&y).with_gradients(&all);
    let norms: Vec<Option<f64>> = t.entries().iter().map(|e| e.grad_norm).collect();
    let s2 = 2f64.sqrt();
    assert_eq!(norms, [Some(4.0), None, Some(s2), Some(s2), Some(1.0)]);
    let printed = t.to_string();
    assert!(printed.lines().next().unwrap().ends_with("|grad|"), "{printed}");
    assert!(printed.lines().nth(1).unwrap().ends_with("4.0000"), "{printed}");
    assert!(printed.lines().nth(2).unwrap().ends_with('-'), "a constant has no gradient:\n{printed}");

    // Plain backward keeps only the leaves' gradients: the intermediates show none.
    let leaves = y.backward();
    let t = tape(&y).with_gradients(&leaves);
    let norms: Vec<Option<f64>> = t.entries().iter().map(|e| e.grad_norm).collect();
    assert_eq!(norms, [Some(4.0), None, None, None, None]);
    drop((a, x));
}

#[test]
fn tape_shows_reuse_as_repeated_inputs() {
    let a = vec_param(&[1.0, 2.0], "a");
    let b = &a + &a;
    let t = tape(&b);
    assert_eq!(t.len(), 2);
    assert_eq!(t.entries()[1].inputs, vec![0, 0]);
    assert_eq!(t.entries()[1].input_shapes, [vec![2], vec![2]]);
}

#[test]
fn tape_of_leaves_and_no_grad_results() {
    let p = vec_param(&[1.0], "p");
    let t = tape(&p);
    assert_eq!(t.len(), 1);
    assert_eq!(t.entries()[0].kind, NodeKind::Param);

    // Computed under no_grad: a plain constant, with no history to show.
    let c = no_grad(|| p.exp().mul_scalar(2.0));
    let t = tape(&c);
    assert_eq!(t.len(), 1);
    assert_eq!(t.entries()[0].kind, NodeKind::Const);
    assert!(!t.is_empty());
}

#[test]
fn tape_is_a_snapshot_that_outlives_the_graph() {
    let before = live_nodes();
    let (a, x, y) = small_graph();
    let t = tape(&y);
    drop((a, x, y));
    assert_eq!(live_nodes(), before, "the tape must not keep graph nodes alive");
    assert_eq!(t.len(), 5);
    assert!(t.to_string().contains("sum_all"));
}

#[test]
fn graph_nodes_matches_the_tape_and_puts_inputs_first() {
    // A wider graph: two constants, a matmul, broadcasting, a detached branch.
    let w = Var::parameter(Tensor::<f64>::rand_normal(&[3, 2], 0.0, 1.0, 1)).labeled("w");
    let b = Var::parameter(Tensor::<f64>::zeros(&[2])).labeled("b");
    let x = Var::constant(Tensor::<f64>::rand_normal(&[4, 3], 0.0, 1.0, 2)).labeled("x");
    let h = (&x.matmul(&w) + &b).tanh();
    let scale = h.detach().abs().mean_all(); // a constant: gradients don't flow through it
    let loss = (&h * &scale).sum_all();
    let nodes = graph_nodes(&loss);
    let t = tape(&loss);
    assert_eq!(nodes.len(), t.len());
    let mut seen = HashSet::new();
    for (node, entry) in nodes.iter().zip(t.entries()) {
        assert_eq!(node.id(), entry.id);
        for input in node.inputs() {
            assert!(seen.contains(&input.id()), "an input comes after its user");
        }
        assert!(seen.insert(node.id()), "a node is listed twice");
    }
    // w, b, x, matmul, add, tanh, the detached scale, mul, sum_all.
    assert_eq!(nodes.len(), 9);
    assert_eq!(t.entries().iter().filter(|e| e.kind == NodeKind::Const).count(), 2);
}

// ---------------------------------------------------------------- DOT

#[derive(Debug, PartialEq)]
enum Token {
    Id(String),
    Str(String),
    Arrow,
    Punct(char),
}

/// Splits DOT text into identifiers, quoted strings (kept raw, escapes included), `->` and
/// punctuation. Panics on anything else, such as an unterminated string.
fn tokenize(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Id(chars[start..i].iter().collect()));
        } else if c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                assert!(i < chars.len(), "unterminated string in DOT text");
                match chars[i] {
                    '"' => break,
                    '\\' => {
                        s.push('\\');
                        s.push(chars[i + 1]);
                        i += 2;
                    }
                    '\n' => panic!("raw line break inside a DOT string"),
                    other => {
                        s.push(other);
                        i += 1;
                    }
                }
            }
            i += 1;
            tokens.push(Token::Str(s));
        } else if c == '-' && chars.get(i + 1) == Some(&'>') {
            tokens.push(Token::Arrow);
            i += 2;
        } else if "{}[];,=".contains(c) {
            tokens.push(Token::Punct(c));
            i += 1;
        } else {
            panic!("unexpected character {c:?} in DOT text");
        }
    }
    tokens
}

/// What the parser found: node declarations with their attributes, and edges.
struct DotGraph {
    nodes: Vec<(String, Vec<(String, String)>)>,
    edges: Vec<(String, String)>,
}

/// Parses the subset of DOT that `autograd::dot` writes (`digraph name { stmt; ... }` with node,
/// edge, `key=value` and `node [...]` statements) and checks its structure.
fn parse_dot(text: &str) -> DotGraph {
    let tokens = tokenize(text);
    // Braces balance (outside strings) and never close more than they opened.
    let mut depth = 0i32;
    for t in &tokens {
        match t {
            Token::Punct('{') => depth += 1,
            Token::Punct('}') => {
                depth -= 1;
                assert!(depth >= 0, "a '}}' closes nothing");
            }
            _ => {}
        }
    }
    assert_eq!(depth, 0, "unbalanced braces");

    assert_eq!(tokens[0], Token::Id("digraph".into()));
    assert!(matches!(tokens[1], Token::Id(_)));
    assert_eq!(tokens[2], Token::Punct('{'));
    assert_eq!(tokens.last(), Some(&Token::Punct('}')));
    let body = &tokens[3..tokens.len() - 1];

    let mut graph = DotGraph { nodes: vec![], edges: vec![] };
    for stmt in body.split(|t| *t == Token::Punct(';')).filter(|s| !s.is_empty()) {
        let (head, attrs) = match stmt.iter().position(|t| *t == Token::Punct('[')) {
            Some(p) => (&stmt[..p], parse_attrs(&stmt[p..])),
            None => (stmt, vec![]),
        };
        match head {
            [Token::Id(a), Token::Arrow, Token::Id(b)] => graph.edges.push((a.clone(), b.clone())),
            [Token::Id(k), Token::Punct('='), Token::Id(_) | Token::Str(_)] => assert!(attrs.is_empty(), "{k}"),
            [Token::Id(kw)] if kw == "node" || kw == "edge" || kw == "graph" => {}
            [Token::Id(name)] => graph.nodes.push((name.clone(), attrs)),
            other => panic!("unexpected DOT statement {other:?}"),
        }
    }
    let declared: HashSet<&str> = graph.nodes.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(declared.len(), graph.nodes.len(), "a node is declared twice");
    for (a, b) in &graph.edges {
        assert!(declared.contains(a.as_str()), "edge from undeclared node {a}");
        assert!(declared.contains(b.as_str()), "edge to undeclared node {b}");
    }
    // Record labels have their own syntax: unescaped braces must balance inside them.
    for (name, attrs) in &graph.nodes {
        if attr(attrs, "shape") == Some("record") {
            let label = attr(attrs, "label").expect("record without label");
            let (mut depth, mut escaped) = (0i32, false);
            for c in label.chars() {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '{') => depth += 1,
                    (false, '}') => depth -= 1,
                    (false, '<' | '>') => panic!("unescaped port marker in the record label of {name}: {label}"),
                    _ => {}
                }
                assert!(depth >= 0, "record label of {name} closes a brace it never opened: {label}");
            }
            assert_eq!(depth, 0, "unbalanced braces in the record label of {name}: {label}");
        }
    }
    graph
}

/// `[k=v, k=v]` into pairs.
fn parse_attrs(tokens: &[Token]) -> Vec<(String, String)> {
    assert_eq!(tokens.first(), Some(&Token::Punct('[')));
    assert_eq!(tokens.last(), Some(&Token::Punct(']')), "attribute list not closed: {tokens:?}");
    tokens[1..tokens.len() - 1]
        .split(|t| *t == Token::Punct(','))
        .map(|kv| match kv {
            [Token::Id(k), Token::Punct('='), Token::Id(v) | Token::Str(v)] => (k.clone(), v.clone()),
            other => panic!("bad attribute {other:?}"),
        })
        .collect()
}

fn attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Renders with Graphviz if the `dot` program is installed; `None` (and a note) otherwise.
fn render_svg(text: &str) -> Option<String> {
    let Ok(mut child) =
        Command::new("dot").arg("-Tsvg").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()
    else {
        eprintln!("graphviz `dot` not installed: skipping the rendering check");
        return None;
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "dot -Tsvg failed: {}\n{text}", String::from_utf8_lossy(&out.stderr));
    // Graphviz may report a syntax problem on stderr and still exit 0. (Other warnings, such as
    // missing fonts, depend on the machine and are not the DOT text's fault.)
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("syntax error") && !stderr.contains("Error"), "dot complained: {stderr}\n{text}");
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn dot_declares_every_value_and_op_and_links_them() {
    let (_a, _x, y) = small_graph();
    let grads = y.backward_retain_all();
    let text = dot(&y).with_gradients(&grads).to_string();
    let g = parse_dot(&text);
    // 5 values, 3 ops; edges: 2 + 2 + 1 inputs, plus one op -> output per op.
    let values = g.nodes.iter().filter(|(n, _)| n.starts_with('v')).count();
    let ops: Vec<&str> =
        g.nodes.iter().filter(|(n, _)| n.starts_with("op")).map(|(_, a)| attr(a, "label").unwrap()).collect();
    assert_eq!(values, 5);
    assert_eq!(ops, ["mul", "add", "sum_all"]);
    assert_eq!(g.edges.len(), 5 + 3);
    for (name, _) in g.nodes.iter().filter(|(n, _)| n.starts_with("op")) {
        assert_eq!(g.edges.iter().filter(|(a, _)| a == name).count(), 1, "{name} must have one output");
    }
    // Small values are shown as numbers, with their gradients; constants carry no grad field.
    let label = |n: &str| attr(&g.nodes.iter().find(|(m, _)| m == n).unwrap().1, "label").unwrap().to_string();
    assert_eq!(label("v0"), "{ a | shape [2] | data [1.0000, 2.0000] | grad [4.0000, 0.0000] }");
    assert_eq!(label("v1"), "{ x | shape [2] | data [3.0000, -1.0000] }");
    assert_eq!(label("v4"), "{ y | shape [] | data 4.0000 | grad 1.0000 }");
    if let Some(svg) = render_svg(&text) {
        assert!(svg.contains("<svg") && svg.contains("sum_all"));
    }
}

#[test]
fn dot_shows_norms_for_larger_tensors() {
    let w = Var::parameter(Tensor::<f64>::full(&[3, 4], 0.5)).labeled("w");
    let loss = w.mul(&w).sum_all();
    let grads = loss.backward();
    let text = dot(&loss).with_gradients(&grads).to_string();
    parse_dot(&text);
    // 12 elements of 0.5: norm sqrt(12 * 0.25) = sqrt(3); gradient 2w = 1 everywhere: norm sqrt(12).
    assert!(text.contains(&format!("data norm {:.4}", 3f64.sqrt())), "{text}");
    assert!(text.contains(&format!("grad norm {:.4}", 12f64.sqrt())), "{text}");
    // The intermediate's gradient was not kept by plain backward.
    assert!(text.contains("grad none"), "{text}");
}

#[test]
fn dot_escapes_labels() {
    let nasty = "w{1} | <in> \"q\" \\ end\nline2";
    let a = vec_param(&[1.0], nasty);
    let y = a.exp().labeled("}{");
    let text = dot(&y).to_string();
    let g = parse_dot(&text);
    assert_eq!(g.nodes.iter().filter(|(n, _)| n.starts_with('v')).count(), 2);
    assert!(text.contains("w\\{1\\} \\| \\<in\\> \\\"q\\\" \\\\ end\\nline2"), "{text}");
    if let Some(svg) = render_svg(&text) {
        // Graphviz drew the label's words as text, not as record structure.
        assert!(svg.contains("w{1}"), "{svg}");
        assert!(svg.contains("line2"), "{svg}");
    }
}

#[test]
fn dot_of_a_wide_graph_renders() {
    // Matmul, broadcasting, a constant, reuse: every edge endpoint declared, Graphviz accepts it.
    let w = Var::parameter(Tensor::<f64>::rand_normal(&[3, 2], 0.0, 1.0, 3)).labeled("W");
    let b = Var::parameter(Tensor::<f64>::zeros(&[2])).labeled("b");
    let x = Var::constant(Tensor::<f64>::rand_normal(&[4, 3], 0.0, 1.0, 4)).labeled("x");
    let h = (&x.matmul(&w) + &b).tanh().labeled("h");
    let loss = (&h * &h).mean_all().labeled("loss");
    let grads = loss.backward_retain_all();
    let text = dot(&loss).with_gradients(&grads).to_string();
    let g = parse_dot(&text);
    assert_eq!(g.nodes.iter().filter(|(n, _)| n.starts_with("op")).count(), 5);
    // h * h: the same value feeds both arguments of mul, so two edges from it.
    let h_index = tape(&loss).entries().iter().find(|e| e.label.as_deref() == Some("h")).unwrap().index;
    let from_h = g.edges.iter().filter(|(a, _)| *a == format!("v{h_index}")).count();
    assert_eq!(from_h, 2);
    if let Some(svg) = render_svg(&text) {
        assert!(svg.contains("matmul"));
    }
}
