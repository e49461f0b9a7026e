//! Built-in synthetic tasks that need no files: copy, reverse, sort and two-number addition.
//!
//! Each example is a line of characters, a prompt and its answer, e.g. `sort`: `7213>1237`.
//! The model reads the whole line and is trained to predict the answer characters only (the
//! prompt positions are [`IGNORE`]d in the loss), as minGPT's sorting demo does. A fixed,
//! deterministic part of all possible prompts (those whose hash falls in one tenth) is held
//! out: never trained on, used for validation loss and for held-out accuracy.

use rand::Rng;
use tensor::TensorRng;

use super::{Batch, CharTokenizer, IGNORE, Split};
use crate::error::{Error, Result};

/// A synthetic task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// `3141>3141`
    Copy,
    /// `3141<1413`
    Reverse,
    /// `3141>1134`
    Sort,
    /// `123+045=0168`: two 3-digit numbers (zero-padded), the 4-digit sum.
    Add,
}

impl Task {
    /// All tasks, in the order the CLI lists them.
    pub const ALL: [Task; 4] = [Task::Copy, Task::Reverse, Task::Sort, Task::Add];

    /// The task's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Task::Copy => "copy",
            Task::Reverse => "reverse",
            Task::Sort => "sort",
            Task::Add => "add",
        }
    }

    /// The task with this name, or an error listing the choices.
    pub fn from_name(name: &str) -> Result<Task> {
        Task::ALL.into_iter().find(|t| t.name() == name).ok_or_else(|| {
            Error::Config(format!("unknown task {name:?}; choose one of {}", Task::ALL.map(|t| t.name()).join(", ")))
        })
    }

    /// Number of digits drawn for a prompt.
    pub fn digits(self) -> usize {
        match self {
            Task::Copy | Task::Reverse | Task::Sort => 6,
            Task::Add => 6,
        }
    }

    /// The prompt text for a list of digits.
    pub fn prompt(self, digits: &[u8]) -> String {
        let s: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
        match self {
            Task::Copy | Task::Sort => format!("{s}>"),
            Task::Reverse => format!("{s}<"),
            Task::Add => format!("{}+{}=", &s[..3], &s[3..]),
        }
    }

    /// The correct answer for a list of digits.
    pub fn answer(self, digits: &[u8]) -> String {
        let s: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
        match self {
            Task::Copy => s,
            Task::Reverse => s.chars().rev().collect(),
            Task::Sort => {
                let mut c: Vec<char> = s.chars().collect();
                c.sort_unstable();
                c.into_iter().collect()
            }
            Task::Add => {
                let (a, b): (u32, u32) = (s[..3].parse().unwrap(), s[3..].parse().unwrap());
                format!("{:04}", a + b)
            }
        }
    }

    /// The answer for a prompt typed by a user (`None` if it is not a well-formed prompt).
    pub fn answer_for_prompt(self, prompt: &str) -> Option<String> {
        let digits: Vec<u8> = prompt.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect();
        (digits.len() == self.digits() && self.prompt(&digits) == prompt).then(|| self.answer(&digits))
    }

    /// Every character a line of this task can contain.
    pub fn alphabet(self) -> &'static str {
        match self {
            Task::Copy | Task::Sort => "0123456789>",
            Task::Reverse => "0123456789<",
            Task::Add => "0123456789+=",
        }
    }

    /// Length of one line, prompt plus answer.
    pub fn line_len(self) -> usize {
        let d = vec![0u8; self.digits()];
        self.prompt(&d).len() + self.answer(&d).len()
    }

    /// True for the tenth of all prompts held out from training (a fixed hash, FNV-1a).
    pub fn is_held_out(digits: &[u8]) -> bool {
        let mut h: u64 = 0xcbf29ce484222325;
        for &d in digits {
            h ^= d as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        h.is_multiple_of(10)
    }
}

/// A task with its tokenizer, producing batches from the right side of the held-out split.
#[derive(Clone, Debug)]
pub struct TaskData {
    /// The task.
    pub task: Task,
    /// Tokenizer over the task's alphabet.
    pub tokenizer: CharTokenizer,
}

impl TaskData {
    /// The task's data, or an error if `block_size` cannot hold one line.
    pub fn new(task: Task, block_size: usize) -> Result<Self> {
        let needed = task.line_len() - 1;
        if block_size < needed {
            return Err(Error::Config(format!(
                "task {} needs --block-size of at least {needed}, got {block_size}",
                task.name()
            )));
        }
        Ok(TaskData { task, tokenizer: CharTokenizer::from_corpus(task.alphabet()) })
    }

    /// The sequence length used in batches: one line minus its last character.
    pub fn block_size(&self) -> usize {
        self.task.line_len() - 1
    }

    /// Random digits whose prompt lies in `split`.
    pub fn sample_digits(&self, split: Split, rng: &mut TensorRng) -> Vec<u8> {
        loop {
            let d: Vec<u8> = (0..self.task.digits()).map(|_| rng.random_range(0..10u8)).collect();
            if Task::is_held_out(&d) == (split == Split::Val) {
                return d;
            }
        }
    }

    /// `batch_size` lines: inputs are the line without its last character, targets the line
    /// shifted by one with the prompt positions ignored.
    pub fn batch(&self, split: Split, batch_size: usize, rng: &mut TensorRng) -> Batch {
        let t = self.block_size();
        let mut batch = Batch::with_capacity(batch_size, t);
        for _ in 0..batch_size {
            let d = self.sample_digits(split, rng);
            let prompt = self.task.prompt(&d);
            let line = format!("{prompt}{}", self.task.answer(&d));
            let ids = self.tokenizer.encode(&line).expect("task alphabet covers its lines");
            batch.x.extend_from_slice(&ids[..t]);
            // Position i predicts ids[i + 1]; only answer characters (index >= prompt length) count.
            batch.y.extend((0..t).map(|i| if i + 1 >= prompt.len() { ids[i + 1] } else { IGNORE }));
        }
        batch
    }

    /// `n` distinct held-out examples (digits), the same for a given seed.
    pub fn held_out_examples(&self, n: usize, rng: &mut TensorRng) -> Vec<Vec<u8>> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        // At most a tenth of 10^6 prompts are held out: far more than any n asked for.
        while out.len() < n {
            let d = self.sample_digits(Split::Val, rng);
            if seen.insert(d.clone()) {
                out.push(d);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tensor::rng_from_seed;

    #[test]
    fn answers_are_right() {
        let d = [3, 1, 4, 1, 5, 9];
        assert_eq!(Task::Copy.prompt(&d), "314159>");
        assert_eq!(Task::Copy.answer(&d), "314159");
        assert_eq!(Task::Reverse.answer(&d), "951413");
        assert_eq!(Task::Sort.answer(&d), "113459");
        assert_eq!(Task::Add.prompt(&d), "314+159=");
        assert_eq!(Task::Add.answer(&d), "0473");
        assert_eq!(Task::Add.answer(&[9, 9, 9, 9, 9, 9]), "1998");
        assert_eq!(Task::Sort.answer_for_prompt("314159>"), Some("113459".into()));
        assert_eq!(Task::Sort.answer_for_prompt("31415>"), None);
    }

    #[test]
    fn batches_mask_the_prompt_and_respect_the_split() {
        for task in Task::ALL {
            let data = TaskData::new(task, 64).unwrap();
            let mut rng = rng_from_seed(0);
            let b = data.batch(Split::Train, 8, &mut rng);
            let t = data.block_size();
            assert_eq!(b.shape(), [8, t]);
            let prompt_len = task.prompt(&vec![0; task.digits()]).len();
            for row in 0..8 {
                let y = &b.y[row * t..(row + 1) * t];
                assert!(y[..prompt_len - 1].iter().all(|&v| v == IGNORE));
                assert!(y[prompt_len - 1..].iter().all(|&v| v != IGNORE));
                // Inputs shifted by one equal targets where they overlap.
                let x = &b.x[row * t..(row + 1) * t];
                assert_eq!(&x[prompt_len..], &y[prompt_len - 1..t - 1]);
                let digits: Vec<u8> = data
                    .tokenizer
                    .decode(&x[..prompt_len])
                    .bytes()
                    .filter(u8::is_ascii_digit)
                    .map(|c| c - b'0')
                    .collect();
                assert!(!Task::is_held_out(&digits));
            }
            for d in data.held_out_examples(20, &mut rng) {
                assert!(Task::is_held_out(&d));
            }
        }
        assert!(TaskData::new(Task::Sort, 5).is_err());
    }
}
