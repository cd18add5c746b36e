//! The receiver in a process of its own (what `--faults` runs against), so that each
//! process's memory can be read apart: the harness's own RSS is then ringspan's (producers,
//! rings, drain, exporter) and nothing of the receiver's.
//!
//! The harness starts itself again as `ringspan-perf --serve-receiver`; the child starts the
//! embedded receiver on loopback, writes `ready <addr>` on its stdout and then answers one line
//! for each command line on its stdin:
//!
//! | command                        | answer                                        |
//! |--------------------------------|-----------------------------------------------|
//! | `inject <times> <fault>`       | `ok`                                          |
//! | `down <ms>`                    | `ok` once it is back on the same address      |
//! | `counts`                       | `counts <accepted> <rejected> <requests> <bytes> <log records>`, over every incarnation |
//!
//! where `<fault>` is `status <code> <retry-after or ->`, `delay <ms>`, `stall <ms>`,
//! `reset` or `drop`. A bad line is answered `err <why>`. The child stops when its stdin
//! closes, so it never outlives the harness.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use ringspan_receiver::{Fault, Receiver, ReceiverConfig};

use crate::target::{counts, Received};

/// The flag that makes the harness serve as the receiver child.
pub const SERVE_FLAG: &str = "--serve-receiver";

/// A fault as one command word list (see the module's table).
pub fn fault_words(fault: &Fault) -> Result<String, String> {
    let ms = |d: &Duration| d.as_millis();
    Ok(match fault {
        Fault::Status { code, retry_after } => {
            let after = retry_after.as_deref().unwrap_or("-");
            if after.is_empty() || after.contains(char::is_whitespace) {
                return Err(format!("Retry-After {after:?} cannot be sent on one line"));
            }
            format!("status {code} {after}")
        }
        Fault::Delay(d) => format!("delay {}", ms(d)),
        Fault::StallBody(d) => format!("stall {}", ms(d)),
        Fault::ResetBody => "reset".to_owned(),
        Fault::DropConnection => "drop".to_owned(),
        other => return Err(format!("{other:?} has no command form")),
    })
}

/// The fault a word list names (the inverse of [`fault_words`]).
pub fn parse_fault(words: &[&str]) -> Result<Fault, String> {
    let ms = |w: &str| {
        w.parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| format!("{w:?} is not a number of milliseconds"))
    };
    Ok(match words {
        ["status", code, after] => Fault::Status {
            code: code
                .parse()
                .map_err(|_| format!("{code:?} is not a status code"))?,
            retry_after: (*after != "-").then(|| (*after).to_owned()),
        },
        ["delay", d] => Fault::Delay(ms(d)?),
        ["stall", d] => Fault::StallBody(ms(d)?),
        ["reset"] => Fault::ResetBody,
        ["drop"] => Fault::DropConnection,
        _ => return Err(format!("unknown fault {:?}", words.join(" "))),
    })
}

fn start(addr: SocketAddr) -> Result<Receiver, String> {
    Receiver::start(ReceiverConfig::default().addr(addr)).map_err(|e| e.to_string())
}

/// The child's side: serves until stdin closes. Returns an error only when the receiver
/// cannot start or the pipes break.
pub fn serve() -> Result<(), String> {
    let mut live = start(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let addr = live.addr();
    let mut past = Received::default();
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| format!("receiver child: {e}");
    writeln!(out, "ready {addr}").map_err(io)?;
    out.flush().map_err(io)?;
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(io)?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            ["inject", times, fault @ ..] => match (times.parse::<usize>(), parse_fault(fault)) {
                (Ok(times), Ok(fault)) => {
                    live.inject(fault, times);
                    "ok".to_owned()
                }
                (Err(_), _) => format!("err {times:?} is not a count"),
                (_, Err(why)) => format!("err {why}"),
            },
            ["down", d] => match d.parse::<u64>() {
                Ok(d) => {
                    live.stop();
                    past = past.plus(counts(&live));
                    std::thread::sleep(Duration::from_millis(d));
                    live = start(addr)?;
                    "ok".to_owned()
                }
                Err(_) => format!("err {d:?} is not a number of milliseconds"),
            },
            ["counts"] => {
                let c = past.plus(counts(&live));
                format!(
                    "counts {} {} {} {} {}",
                    c.accepted, c.rejected, c.requests, c.bytes, c.logs
                )
            }
            _ => format!("err unknown command {line:?}"),
        };
        writeln!(out, "{answer}").map_err(io)?;
        out.flush().map_err(io)?;
    }
    live.stop();
    Ok(())
}

/// The harness's side: the child process and its pipes.
pub struct Child {
    process: std::process::Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    pub addr: SocketAddr,
}

impl Child {
    /// Starts the harness's own binary as the receiver child and waits until it listens.
    pub fn spawn() -> Result<Child, String> {
        let exe = std::env::current_exe().map_err(|e| format!("finding ringspan-perf: {e}"))?;
        let mut process = Command::new(exe)
            .arg(SERVE_FLAG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting the receiver process: {e}"))?;
        let stdin = process.stdin.take();
        let stdout = BufReader::new(process.stdout.take().expect("stdout is piped"));
        let mut child = Child {
            process,
            stdin,
            stdout,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let ready = child.read_line()?;
        child.addr = ready
            .strip_prefix("ready ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("the receiver process said {ready:?}, not `ready <addr>`"))?;
        Ok(child)
    }

    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    fn read_line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => Err("the receiver process exited".to_owned()),
            Ok(_) => Ok(line.trim_end().to_owned()),
            Err(e) => Err(format!("reading from the receiver process: {e}")),
        }
    }

    /// Sends one command and returns its answer (an `err` answer is an error).
    pub fn ask(&mut self, command: &str) -> Result<String, String> {
        let stdin = self.stdin.as_mut().expect("open until drop");
        writeln!(stdin, "{command}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("writing to the receiver process: {e}"))?;
        let answer = self.read_line()?;
        match answer.strip_prefix("err ") {
            Some(why) => Err(format!("the receiver process refused {command:?}: {why}")),
            None => Ok(answer),
        }
    }

    pub fn counts(&mut self) -> Result<Received, String> {
        let answer = self.ask("counts")?;
        let n: Vec<u64> = answer
            .strip_prefix("counts ")
            .map(|rest| rest.split(' ').filter_map(|w| w.parse().ok()).collect())
            .unwrap_or_default();
        match n[..] {
            [accepted, rejected, requests, bytes, logs] => Ok(Received {
                accepted,
                rejected,
                requests,
                bytes,
                logs,
            }),
            _ => Err(format!(
                "the receiver process answered {answer:?} to counts"
            )),
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // Closing stdin ends the child's command loop; it stops its receiver (within a
        // second) and exits. One that does not within 5 s is killed.
        drop(self.stdin.take());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.process.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_soak_fault_round_trips() {
        let s = Duration::from_millis;
        for fault in [
            Fault::Status {
                code: 503,
                retry_after: Some("1".into()),
            },
            Fault::Status {
                code: 429,
                retry_after: None,
            },
            Fault::Delay(s(1000)),
            Fault::StallBody(s(3000)),
            Fault::ResetBody,
            Fault::DropConnection,
        ] {
            let line = fault_words(&fault).unwrap();
            let words: Vec<&str> = line.split(' ').collect();
            assert_eq!(parse_fault(&words).unwrap(), fault, "{line}");
        }
    }

    #[test]
    fn bad_fault_words_are_named() {
        for (words, part) in [
            (&["delay", "soon"][..], "soon"),
            (&["status", "x", "-"][..], "x"),
            (&["bogus"][..], "bogus"),
        ] {
            let e = parse_fault(words).unwrap_err();
            assert!(e.contains(part), "{words:?}: {e}");
        }
        let spaced = Fault::Status {
            code: 503,
            retry_after: Some("Wed, 21 Oct 2015 07:28:00 GMT".into()),
        };
        assert!(fault_words(&spaced).is_err());
    }
}
