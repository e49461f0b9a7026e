//! The built-in tasks as sequence-to-sequence problems, for the encoder-decoder model.
//!
//! A task line `314159<951413` splits at its prompt's last character: the encoder reads the
//! source `314159` (everything before the separator: the digits, and `+` for addition), the
//! decoder starts from the separator `<` (its start token) and produces the answer `951413`,
//! one character per step. Teacher forcing feeds the decoder the answer shifted right by one:
//!
//! ```text
//! source   3 1 4 1 5 9          -> encoder
//! decoder  < 9 5 1 4 1          (start token, then the answer without its last character)
//! targets  9 5 1 4 1 3          (the answer)
//! ```
//!
//! Every answer of a task has the same length, so no end token or padding is needed. Source and
//! target share the task's tokenizer.

use tensor::TensorRng;

use super::{Split, TaskData};

/// One task example for the encoder-decoder, as token ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seq2SeqExample {
    /// The source: the prompt without its last character.
    pub src: Vec<usize>,
    /// The decoder's start token: the prompt's last character.
    pub start: usize,
    /// The answer.
    pub answer: Vec<usize>,
}

/// A batch of examples: sources `(B, S)`, decoder inputs and targets `(B, T)`, all row-major.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seq2SeqBatch {
    /// Source ids `(B, S)`.
    pub src: Vec<usize>,
    /// Decoder inputs `(B, T)`: the start token, then the answer without its last id.
    pub tgt_in: Vec<usize>,
    /// Targets `(B, T)`: the answer.
    pub tgt_out: Vec<usize>,
    /// `B`.
    pub batch_size: usize,
    /// `S`.
    pub src_len: usize,
    /// `T`.
    pub tgt_len: usize,
}

impl TaskData {
    /// The example for `digits`: source, start token and answer.
    ///
    /// ```
    /// use gradlab::data::{Task, TaskData};
    /// let data = TaskData::new(Task::Reverse, 64).unwrap();
    /// let ex = data.seq2seq_example(&[3, 1, 4, 1, 5, 9]);
    /// let tok = &data.tokenizer;
    /// assert_eq!(tok.decode(&ex.src), "314159");
    /// assert_eq!(tok.decode(&[ex.start]), "<");
    /// assert_eq!(tok.decode(&ex.answer), "951413");
    /// ```
    pub fn seq2seq_example(&self, digits: &[u8]) -> Seq2SeqExample {
        let prompt = self.tokenizer.encode(&self.task.prompt(digits)).expect("task alphabet covers its prompts");
        let answer = self.tokenizer.encode(&self.task.answer(digits)).expect("task alphabet covers its answers");
        let (start, src) = prompt.split_last().expect("a prompt is never empty");
        Seq2SeqExample { src: src.to_vec(), start: *start, answer }
    }

    /// Source length `S` and answer length `T` of every example of the task.
    pub fn seq2seq_lengths(&self) -> (usize, usize) {
        let ex = self.seq2seq_example(&vec![0; self.task.digits()]);
        (ex.src.len(), ex.answer.len())
    }

    /// `batch_size` random examples from `split`, drawn as [`TaskData::batch`] draws them.
    pub fn seq2seq_batch(&self, split: Split, batch_size: usize, rng: &mut TensorRng) -> Seq2SeqBatch {
        let (src_len, tgt_len) = self.seq2seq_lengths();
        let mut b = Seq2SeqBatch { batch_size, src_len, tgt_len, ..Default::default() };
        for _ in 0..batch_size {
            let ex = self.seq2seq_example(&self.sample_digits(split, rng));
            b.src.extend_from_slice(&ex.src);
            b.tgt_in.push(ex.start);
            b.tgt_in.extend_from_slice(&ex.answer[..tgt_len - 1]);
            b.tgt_out.extend_from_slice(&ex.answer);
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use tensor::rng_from_seed;

    use super::*;
    use crate::data::Task;

    #[test]
    fn every_task_splits_into_source_start_and_answer() {
        for task in Task::ALL {
            let data = TaskData::new(task, 64).unwrap();
            let digits = [9, 0, 2, 7, 4, 4];
            let ex = data.seq2seq_example(&digits);
            let line = data.tokenizer.decode(&[ex.src.clone(), vec![ex.start], ex.answer.clone()].concat());
            assert_eq!(line, format!("{}{}", task.prompt(&digits), task.answer(&digits)), "{task:?}");
            assert_eq!(data.seq2seq_lengths(), (ex.src.len(), ex.answer.len()));
        }
    }

    #[test]
    fn a_batch_is_teacher_forced_and_stays_in_its_split() {
        let data = TaskData::new(Task::Add, 64).unwrap();
        let b = data.seq2seq_batch(Split::Val, 5, &mut rng_from_seed(3));
        let (s, t) = (b.src_len, b.tgt_len);
        assert_eq!((b.src.len(), b.tgt_in.len(), b.tgt_out.len()), (5 * s, 5 * t, 5 * t));
        for i in 0..5 {
            let (tgt_in, tgt_out) = (&b.tgt_in[i * t..(i + 1) * t], &b.tgt_out[i * t..(i + 1) * t]);
            assert_eq!(data.tokenizer.decode(&tgt_in[..1]), "=");
            assert_eq!(&tgt_in[1..], &tgt_out[..t - 1]); // shifted right by one
            let digits: Vec<u8> = data
                .tokenizer
                .decode(&b.src[i * s..(i + 1) * s])
                .bytes()
                .filter(u8::is_ascii_digit)
                .map(|c| c - b'0')
                .collect();
            assert!(Task::is_held_out(&digits));
        }
    }
}
