<#
.SYNOPSIS
    Report and metrics figures for docs/BENCHMARKS.md: the HTML incident report of a plan incident with 50 steps and 3
    attempts, and Get-RollbackMetrics over a journal of -Attempts attempts. Returns the report's markdown lines.
    Expects the module imported by the caller.
.DESCRIPTION
    A few real rollbacks of a config file (a recovery, failures, an escalation) make the records; the journal
    (SQLite) is then grown to -Attempts attempts by copying them, each copy on one of 100 targets with versions of its
    own and a later start time, with Python's sqlite3 module, so every record is one the module wrote. Then
    Get-RollbackMetrics (per target, and -Format Prometheus) is timed in this warm process: medians of -Runs.
#>
param(
    [ValidateRange(100, 1000000)] [int] $Attempts = 10000,
    [ValidateRange(1, 50)] [int] $Runs = 5
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$invariant = [Globalization.CultureInfo]::InvariantCulture
Import-Module (Join-Path $PSScriptRoot 'BenchSupport.psm1')

$work = Join-Path ([IO.Path]::GetTempPath()) "dr-bench-metrics-$PID"
$state = Join-Path $work 'state'
try {
    New-Item -ItemType Directory -Force $work | Out-Null
    $config = Join-Path $work 'app.yml'
    Set-Content $config 'release: 1'
    $null = Test-RollbackHealth -Strategy Config -Path $config -SmokeTest { $true } -RecordVerified -StateDirectory $state
    Set-Content $config 'release: 2'
    $null = Invoke-Rollback -Strategy Config -Path $config -SmokeTest { $true } -StateDirectory $state -Confirm:$false
    foreach ($i in 1..3) {
        Set-Content $config 'release: 3'
        $null = Invoke-Rollback -Strategy Config -Path $config -SmokeTest { $false } -StateDirectory $state -Confirm:$false -WarningAction SilentlyContinue
    }

    $grow = @'
import json, sqlite3, sys, uuid
from datetime import datetime, timedelta
db, wanted = sys.argv[1], int(sys.argv[2])
con = sqlite3.connect(db)
rows = con.execute("SELECT id, target_key, strategy, started_at, completed_at, outcome, attempt_number, from_version, to_version, result_json FROM attempts").fetchall()
verified = con.execute("SELECT target_key, strategy, version, commit_id, recorded_at, evidence FROM verified").fetchall()
copies = []
i = 0
while len(rows) + len(copies) < wanted:
    for r in rows:
        if len(rows) + len(copies) >= wanted: break
        n = i // len(rows)
        key = f"{r[1]}#{i % 100}"
        new_id = uuid.uuid4().hex[:12]
        result = json.loads(r[9])
        result["AttemptId"], result["TargetKey"] = new_id, key
        result["FromVersion"] = f"{r[7]}-{n}" if r[7] else None
        copies.append((new_id, key, r[2], r[3], r[4], r[5], r[6], result["FromVersion"], r[8], json.dumps(result)))
        i += 1
con.executemany("INSERT INTO attempts(id, target_key, strategy, started_at, completed_at, outcome, attempt_number, from_version, to_version, result_json) VALUES (?,?,?,?,?,?,?,?,?,?)", copies)
con.executemany("INSERT INTO verified(target_key, strategy, version, commit_id, recorded_at, evidence) VALUES (?,?,?,?,?,?)",
    [(f"{v[0]}#{t}", v[1], v[2], v[3], v[4], v[5]) for t in range(100) for v in verified])
con.commit()
print(con.execute("SELECT COUNT(*) FROM attempts").fetchone()[0])
'@
    $count = [int](& python3 -c $grow (Join-Path $state 'journal.db') $Attempts)
    $objects = [Collections.Generic.List[double]]::new()
    $prometheus = [Collections.Generic.List[double]]::new()
    for ($i = 0; $i -le $Runs; $i++) {
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $metrics = Get-RollbackMetrics -StateDirectory $state
        $a = $sw.Elapsed.TotalMilliseconds
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $text = Get-RollbackMetrics -Format Prometheus -StateDirectory $state
        $b = $sw.Elapsed.TotalMilliseconds
        if ($metrics.Count -lt 100 -or -not $text) { throw "Get-RollbackMetrics returned $($metrics.Count) targets" }
        if ($i -gt 0) { $objects.Add($a); $prometheus.Add($b) }
    }

    # An incident with 50 steps and 3 attempts: a plan of 24 config files (a checkpoint and a replacement each, and
    # the service's restart), whose first two rollbacks fail the service's check.
    $svc = Join-Path $work 'service'
    New-Item -ItemType Directory -Force $svc | Out-Null
    $components = foreach ($n in 1..24) { Set-Content (Join-Path $svc "c$n.yml") 'v: 1'; "@{ Name = 'c$n'; Strategy = 'Config'; Path = './c$n.yml' }" }
    Set-Content (Join-Path $svc 'ok.ps1') "if (Test-Path '$svc/broken') { exit 1 }"
    Set-Content (Join-Path $svc 'rollback.psd1') "@{ Service = 'bench-report'; Components = @( $($components -join '; ') ); SmokeTest = './ok.ps1'; RestartScript = './ok.ps1' }"
    $plan = Join-Path $svc 'rollback.psd1'
    $null = Test-RollbackHealth -Plan $plan -RecordVerified -StateDirectory $state
    foreach ($attempt in 1..3) {
        foreach ($n in 1..24) { Set-Content (Join-Path $svc "c$n.yml") "v: $($attempt + 1)" }
        if ($attempt -lt 3) { Set-Content (Join-Path $svc 'broken') '' } else { Remove-Item (Join-Path $svc 'broken') }
        $planResult = Invoke-Rollback -Plan $plan -All -StateDirectory $state -Confirm:$false -WarningAction SilentlyContinue
    }
    $steps = @($planResult.Components | ForEach-Object { (Get-RollbackHistory -TargetKey $_.TargetKey -AttemptId $_.AttemptId -StateDirectory $state).Steps }).Count + $planResult.Steps.Where({ $_.Name -like 'Restart*' }).Count
    $reportMs = [Collections.Generic.List[double]]::new()
    for ($i = 0; $i -le $Runs; $i++) {
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $report = $planResult | New-RollbackIncidentReport -Format Html -StateDirectory $state
        if ($i -gt 0) { $reportMs.Add($sw.Elapsed.TotalMilliseconds) }
    }

    $reportMedian = Get-Median $reportMs
    $objectMs = Get-Median $objects
    $prometheusMs = Get-Median $prometheus
    Write-Host ("Metrics over {0} attempts: {1:0} ms objects, {2:0} ms Prometheus; HTML report of {3} steps: {4:0} ms" -f $count, $objectMs, $prometheusMs, $steps, $reportMedian)
    @(
        '## Reports and metrics'
        ''
        "The HTML incident report of a plan incident (24 config files, $steps steps, the plan's third attempt after two failed ones), and ``Get-RollbackMetrics`` over a local journal of $count attempts on $($metrics.Count) targets (real rollbacks of a config file, copied with their records to reach that count). Medians of $Runs warm runs."
        ''
        '| Measurement | Time | Goal | Met |'
        '|---|---:|---|---|'
        "| ``New-RollbackIncidentReport -Format Html`` ($steps steps, 3 attempts; Markdown, JSON and HTML written) | $($reportMedian.ToString('0', $invariant)) ms | < 1000 ms | $(if ($reportMedian -lt 1000) { 'yes' } else { 'no' }) |"
        "| ``Get-RollbackMetrics``, per-target objects | $($objectMs.ToString('0', $invariant)) ms | < 1000 ms | $(if ($objectMs -lt 1000) { 'yes' } else { 'no' }) |"
        "| ``-Format Prometheus`` (textfile collector text) | $($prometheusMs.ToString('0', $invariant)) ms | < 1000 ms | $(if ($prometheusMs -lt 1000) { 'yes' } else { 'no' }) |"
        ''
        'Reproduce: `dotnet pwsh build.ps1 Bench -Only Metrics` (this section only).'
    )
}
finally {
    Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
}
