//! A real HDFS on 127.0.0.1: Hadoop's own MiniDFSCluster (one NameNode, one DataNode), run by
//! `native/testkit/java/MiniDfs.java` with the Hadoop jars that `scripts/setup.sh` puts in
//! `.tools/hdfs/lib`. It starts in about 10 s, so a test binary shares one (`HdfsCluster::shared`)
//! and each test works under its own directory.
//!
//! The Java process stops when its standard input closes: on drop, and also when the test
//! process ends without dropping it (a `static` is never dropped), so it never outlives the tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct HdfsCluster {
    child: Child,
    /// Closed to stop the cluster.
    stdin: Option<ChildStdin>,
    port: u16,
    /// Where the cluster keeps its data and log; MiniDfs deletes it when it stops.
    dir: PathBuf,
    cache: tempfile::TempDir,
    started_in: Duration,
}

/// How long the cluster may take to start (a cold JVM on a busy 2-core machine).
const START_TIMEOUT: Duration = Duration::from_secs(180);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Hadoop jars: `SHOAL_TEST_HDFS_LIB`, else `.tools/hdfs/lib` of the repository.
fn lib_dir() -> PathBuf {
    if let Ok(p) = std::env::var("SHOAL_TEST_HDFS_LIB") {
        return PathBuf::from(p);
    }
    let tools = repo_root().join(".tools/hdfs");
    assert!(
        tools.join(".shoal-setup-done").exists(),
        "the Hadoop jars for the test HDFS (MiniDFSCluster) are not installed in {}: \
         run scripts/setup.sh (or set SHOAL_TEST_HDFS_LIB to a directory of Hadoop jars)",
        tools.display()
    );
    tools.join("lib")
}

fn java() -> PathBuf {
    match std::env::var_os("JAVA_HOME") {
        Some(home) if Path::new(&home).join("bin/java").exists() => {
            Path::new(&home).join("bin/java")
        }
        _ => PathBuf::from("java"),
    }
}

impl HdfsCluster {
    /// Starts a cluster of its own; it stops on drop.
    pub fn start() -> Self {
        let lib = lib_dir();
        let java_dir = repo_root().join("native/testkit/java");
        let dir = tempfile::Builder::new()
            .prefix("shoal-minidfs-")
            .tempdir()
            .unwrap()
            .keep();
        let log_path = dir.join("minidfs.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let began = Instant::now();
        let mut child = Command::new(java())
            .arg(format!(
                "-Dlog4j.configuration=file:{}",
                java_dir.join("log4j.properties").display()
            ))
            .arg("-Xmx512m")
            .arg("-cp")
            .arg(format!("{}/*", lib.display()))
            .arg(java_dir.join("MiniDfs.java"))
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start java for the test HDFS: {e}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = line.strip_prefix("SHOAL_MINIDFS_PORT=") {
                    let _ = tx.send(port.trim().parse::<u16>().ok());
                }
            }
        });
        let mut cluster = HdfsCluster {
            child,
            stdin,
            port: 0,
            dir,
            cache: tempfile::tempdir().unwrap(),
            started_in: Duration::ZERO,
        };
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(Some(port)) => {
                    cluster.port = port;
                    cluster.started_in = began.elapsed();
                    return cluster;
                }
                Ok(None) => cluster.fail("printed a bad port"),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = cluster.child.try_wait() {
                        cluster.fail(&format!("exited ({status}) before it was ready"));
                    }
                    if began.elapsed() > START_TIMEOUT {
                        cluster.fail(&format!("was not ready after {START_TIMEOUT:?}"));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = cluster.child.wait();
                    cluster.fail("closed its output before it was ready");
                }
            }
        }
    }

    /// One cluster for the whole test binary, started by the first test that asks.
    pub fn shared() -> &'static HdfsCluster {
        static SHARED: OnceLock<HdfsCluster> = OnceLock::new();
        SHARED.get_or_init(HdfsCluster::start)
    }

    fn fail(&mut self, why: &str) -> ! {
        let log = std::fs::read_to_string(self.dir.join("minidfs.log")).unwrap_or_default();
        self.stop();
        let tail: String = log
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        panic!("the test HDFS (native/testkit/java/MiniDfs.java) {why}; its log:\n{tail}");
    }

    /// The NameNode's RPC port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `hdfs://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("hdfs://127.0.0.1:{}", self.port)
    }

    /// How long the cluster took to start (JVM start-up included).
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Configuration of a mount `name` at `path` over `hdfs://127.0.0.1:<port><hdfs_path>`,
    /// caching into a directory private to this cluster.
    pub fn mount_conf(&self, name: &str, path: &str, hdfs_path: &str) -> Vec<(String, String)> {
        vec![
            (format!("shoal.mount.{name}.path"), path.to_string()),
            (
                format!("shoal.mount.{name}.uri"),
                format!("{}{hdfs_path}", self.url()),
            ),
            (
                "shoal.cache.dirs".to_string(),
                format!("{}:1g", self.cache.path().display()),
            ),
        ]
    }

    fn stop(&mut self) {
        // Closing stdin asks MiniDfs to shut the cluster down and exit.
        self.stdin.take();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for HdfsCluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
