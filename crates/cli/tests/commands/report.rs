//! `report`: the HTML report in a headless browser.

use crate::*;

/// A headless Chromium (env `PERTBENCH_CHROMIUM`, else `chromium`,
/// `chromium-browser` or `google-chrome` on PATH). Missing: the test skips,
/// unless `PERTBENCH_REQUIRE_BROWSER=1` (CI, whose `.ci/run` installs it).
fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("PERTBENCH_CHROMIUM")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| {
            let path = std::env::var_os("PATH")?;
            std::env::split_paths(&path).find_map(|d| {
                ["chromium", "chromium-browser", "google-chrome"]
                    .iter()
                    .map(|n| d.join(n))
                    .find(|p| p.is_file())
            })
        });
    if found.is_none() {
        if std::env::var("PERTBENCH_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!("PERTBENCH_REQUIRE_BROWSER=1 but no chromium was found");
        }
        eprintln!(
            "skipping: no chromium on PATH (apt-get install chromium, or set PERTBENCH_CHROMIUM)"
        );
    }
    found
}

/// Runs headless Chromium on `page` with `mode` (e.g. `--dump-dom`);
/// returns (stdout, stderr). Console messages (CSP refusals among them)
/// are logged to stderr.
fn headless(browser: &Path, profile: &Path, mode: &[&str], page: &Path) -> (String, String) {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(mode)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn quickstart_report_renders_in_headless_chromium() {
    let Some(shared) = shared() else { return };
    let Some(browser) = chromium() else { return };
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let pertbench = |args: &[&str]| repo_pertbench(w, &shared, args);
    pertbench(&["run", "pipelines/quickstart.yaml", "--quiet"]);
    let page = w.join("report.html");
    let said = pertbench(&["report", "-o", page.to_str().unwrap()]);
    let n_plots: usize = said
        .split(" plots ->")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    assert!(n_plots >= 20, "{said}");

    // The DOM as the browser parsed it: every section, every plot.
    let profile = w.join("chromium-profile");
    let (dom, log) = headless(&browser, &profile, &["--dump-dom"], &page);
    for id in pertbench_report::html::SECTIONS {
        assert!(
            dom.contains(&format!("<section id=\"{id}\">")),
            "section {id}"
        );
    }
    assert_eq!(dom.matches("<svg").count(), n_plots);
    assert!(dom.contains("<title>pertbench report</title>"));
    // Nothing was fetched: the report's Content-Security-Policy refuses
    // every load, and the browser logs each refusal.
    assert!(!log.contains("Content Security Policy"), "{log}");

    // The check can fail: a page that loads an image is reported.
    let bad = w.join("bad.html");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&page).unwrap().replacen(
            "<body>",
            "<body><img src=\"http://example.invalid/x.png\">",
            1,
        ),
    )
    .unwrap();
    let (_, bad_log) = headless(&browser, &profile, &["--dump-dom"], &bad);
    assert!(
        bad_log.contains("Content Security Policy") && bad_log.contains("example.invalid"),
        "{bad_log}"
    );

    // A screenshot, kept with the tests' output for a person to look at.
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("quickstart-report.png");
    let _ = std::fs::remove_file(&shot);
    headless(
        &browser,
        &profile,
        &[
            "--window-size=1280,6000",
            &format!("--screenshot={}", shot.display()),
        ],
        &page,
    );
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // A blank 1280 x 6000 page is about 35 KB as PNG; the quickstart's
    // tables and 22 charts about 600 KB.
    assert!(png.len() > 100_000, "{} bytes", png.len());
    eprintln!("screenshot: {}", shot.display());
}
