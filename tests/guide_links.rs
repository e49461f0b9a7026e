//! Every relative link in the guide (`docs/guide/*.md`) and the README points at a file that exists.
//!
//! The guide links to the code it explains (`[layout.rs](../../tensor/src/layout.rs)`); when a file
//! is renamed or moved, this test names every link it broke, with the file and line of each.
//! Links with a scheme (`https://`, `mailto:`) and pure anchors (`#section`) are not checked; an
//! anchor after a path (`file.md#section`) is dropped and the path checked. Links inside fenced
//! code blocks and inline code spans are not links, and are skipped as Markdown renderers do.

use std::path::{Path, PathBuf};

/// A relative link target found in a Markdown file: the 1-based line it is on, and the target
/// as written (anchor and title removed).
#[derive(Debug, PartialEq, Eq)]
struct Link {
    line: usize,
    target: String,
}

/// `text` with every inline code span (`` `...` ``, any number of backticks) removed, so that
/// brackets inside code are not read as links. An unclosed run of backticks is kept as text.
fn strip_code_spans(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&c| c == '`').count();
        // Find the closing run of exactly the same length.
        let mut j = i + run;
        let mut close = None;
        while j < chars.len() {
            if chars[j] == '`' {
                let r = chars[j..].iter().take_while(|&&c| c == '`').count();
                if r == run {
                    close = Some(j + r);
                    break;
                }
                j += r;
            } else {
                j += 1;
            }
        }
        match close {
            Some(end) => i = end,
            None => {
                out.extend(&chars[i..i + run]);
                i += run;
            }
        }
    }
    out
}

/// The destination of a link as written between the parentheses: `<a b.md>` or `a.md "title"`
/// become `a b.md` and `a.md`.
fn destination(raw: &str) -> String {
    let raw = raw.trim();
    if let Some(rest) = raw.strip_prefix('<') {
        return rest.split('>').next().unwrap_or("").to_string();
    }
    raw.split_whitespace().next().unwrap_or("").to_string()
}

/// Whether a destination names a local path (not a URL with a scheme, not a pure anchor).
fn is_relative_path(target: &str) -> bool {
    if target.is_empty() || target.starts_with('#') || target.starts_with('/') {
        return false;
    }
    // A scheme is letters, digits, `+`, `-` or `.` before a colon: `https:`, `mailto:`.
    match target.find(':') {
        Some(colon) => {
            let scheme = &target[..colon];
            let is_scheme =
                !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
            !is_scheme
        }
        None => true,
    }
}

/// Decodes `%XX` escapes (a space in a file name is written `%20` in a link).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        if bytes[i] == b'%'
            && let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every relative link in a Markdown document: inline links and images `[text](dest)`,
/// `![alt](dest)`, and reference definitions `[label]: dest`. The anchor (`#...`) is removed.
fn relative_links(markdown: &str) -> Vec<Link> {
    let mut links = Vec::new();
    let mut fence: Option<String> = None;
    for (n, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        // Fenced code blocks: ``` or ~~~, closed by a fence of the same character, at least as long.
        let fence_marker: String = trimmed.chars().take_while(|&c| c == '`' || c == '~').collect();
        let is_fence =
            fence_marker.len() >= 3 && fence_marker.chars().all(|c| c == fence_marker.chars().next().unwrap());
        match &fence {
            Some(open) => {
                if is_fence
                    && fence_marker.starts_with(open.as_str())
                    && trimmed[fence_marker.len()..].trim().is_empty()
                {
                    fence = None;
                }
                continue;
            }
            None if is_fence => {
                fence = Some(fence_marker);
                continue;
            }
            None => {}
        }

        let text = strip_code_spans(line);
        let mut targets = Vec::new();
        // Reference definition: `[label]: destination`, at the start of the line.
        if let Some(rest) = text.trim_start().strip_prefix('[')
            && let Some(close) = rest.find("]:")
        {
            targets.push(destination(&rest[close + 2..]));
        }
        // Inline links and images: `](destination)`, with balanced parentheses inside.
        let mut search = text.as_str();
        while let Some(at) = search.find("](") {
            let after = &search[at + 2..];
            let mut depth = 1;
            let mut end = None;
            for (k, c) in after.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(k);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            match end {
                Some(end) => {
                    targets.push(destination(&after[..end]));
                    search = &after[end + 1..];
                }
                None => break,
            }
        }
        for target in targets {
            if is_relative_path(&target) {
                let path = target.split('#').next().unwrap_or("").to_string();
                if !path.is_empty() {
                    links.push(Link { line: n + 1, target: percent_decode(&path) });
                }
            }
        }
    }
    links
}

/// The Markdown files whose links are checked: the README and every file in `docs/guide/`.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md")];
    let guide = root.join("docs/guide");
    let entries = std::fs::read_dir(&guide).unwrap_or_else(|e| panic!("cannot read {}: {e}", guide.display()));
    let mut chapters: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    chapters.sort();
    files.extend(chapters);
    files
}

#[test]
fn every_relative_link_in_the_guide_and_readme_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut missing = Vec::new();
    let mut checked = 0;
    for file in documents(root) {
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let dir = file.parent().expect("a file has a parent directory");
        for link in relative_links(&text) {
            checked += 1;
            if !dir.join(&link.target).exists() {
                let shown = file.strip_prefix(root).unwrap_or(&file);
                missing.push(format!("  {}:{}: {}", shown.display(), link.line, link.target));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {checked} relative links point at files that do not exist (paths are relative to the linking file):\n{}",
        missing.len(),
        missing.join("\n")
    );
}

#[test]
fn link_extraction_finds_links_and_skips_code_urls_and_anchors() {
    let md = "\
# Title
See [`layout.rs`](../../tensor/src/layout.rs) and ![plot](img/loss.svg \"Loss\").
Web [site](https://example.com), [mail](mailto:a@b.c), [section](#views), [doc](02-autodiff.md#topological-order).
Inline code is no link: `v[0](x)` and ``a](b.md)``.
[ref]: ../../README.md
```rust
let x = y[0](z); // [not](a/link.md)
```
~~~text
[also not](b.md)
~~~
Nested [parens](dir/a_(b).md) and <angle> [brackets](<with space.md>) and [esc](with%20space.md).
";
    let links = relative_links(md);
    let found: Vec<(usize, &str)> = links.iter().map(|l| (l.line, l.target.as_str())).collect();
    assert_eq!(
        found,
        vec![
            (2, "../../tensor/src/layout.rs"),
            (2, "img/loss.svg"),
            (3, "02-autodiff.md"),
            (5, "../../README.md"),
            (12, "dir/a_(b).md"),
            (12, "with space.md"),
            (12, "with space.md"),
        ]
    );
}

#[test]
fn a_missing_target_is_reported() {
    // The check itself must be able to fail: a link to a file that is not there is found and
    // does not exist relative to the guide directory.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let links = relative_links("[gone](no-such-chapter.md)\n[here](README.md)\n");
    let dir = root.join("docs/guide");
    let missing: Vec<&str> =
        links.iter().filter(|l| !dir.join(&l.target).exists()).map(|l| l.target.as_str()).collect();
    assert_eq!(missing, vec!["no-such-chapter.md"]);
}
