<#
.SYNOPSIS
    Automatic rollback figures for docs/BENCHMARKS.md: how soon a watcher starts the rollback after a bad deployment,
    and what an idle watcher costs. Returns the section's markdown lines. Expects the module imported by the caller.
.DESCRIPTION
    The target is a real git checkout served by a small HTTP server (/usr/bin/python3, its own process) whose /health
    answers 200 while app.txt says good and 500 otherwise. Each watcher is a fresh pwsh process importing the module.
    - Detection: a watcher (-IntervalSec 1 -FailureLimit 3) watches the good release; the bad one is checked out at T0;
      the figure is T0 to the ROLLBACK_STARTED signal. Goal: interval x failure limit + 1 s.
    - Idle: a watcher (-IntervalSec 10, the default) of a healthy target for -IdleSeconds, after a 30 s warm-up: its
      CPU time from /proc (utime + stime) over the wall time, and its largest resident set (VmRSS) sampled every 5 s.
      Goals: under 1 % of one core, under 150 MB.
    - Listener: a listener (its own pwsh process) for the failing checkout gets -Posts posts from this process, in
      turn: a valid Alertmanager notification (the same group each time: one new, then repeats), one without the bearer
      token, one that is not JSON, and one over the size limit. Every answer's status is checked, and the journal must
      hold exactly one rollback. Goal: every answer right, one rollback.
#>
param(
    [ValidateRange(1, 20)] [int] $Runs = 3,
    [ValidateRange(30, 7200)] [int] $IdleSeconds = 600,
    [ValidateRange(4, 100000)] [int] $Posts = 1000
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$invariant = [Globalization.CultureInfo]::InvariantCulture
$module = (Get-Module DeploymentRollback).Path
Import-Module (Join-Path $PSScriptRoot 'BenchSupport.psm1')
$pwsh = (Get-PwshCommand).Exe
$pwshArgs = (Get-PwshCommand).Arguments
function Invoke-Git([string] $repo) { $out = git -C $repo @args 2>&1; if ($LASTEXITCODE) { throw "git $args failed: $out" } }

$server = @'
import http.server, sys
repo = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        good = open(repo + "/app.txt").read().strip() == "good"
        self.send_response(200 if good else 500); self.end_headers(); self.wfile.write(b"ok" if good else b"failing")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
'@

function New-App([string] $root) {
    $repo = Join-Path $root 'repo'
    New-Item -ItemType Directory -Force $repo | Out-Null
    Invoke-Git $repo init --quiet --initial-branch main
    Invoke-Git $repo config user.name bench
    Invoke-Git $repo config user.email bench@example.invalid
    foreach ($release in @(@('v1.0.0', 'good'), @('v1.0.1', 'bad'))) {
        Set-Content (Join-Path $repo 'app.txt') $release[1]
        Invoke-Git $repo add app.txt
        Invoke-Git $repo commit --quiet -m $release[0]
        Invoke-Git $repo tag $release[0]
    }
    Invoke-Git $repo checkout --quiet v1.0.0
    $port = Get-FreePort
    $serverFile = Join-Path $root 'server.py'
    Set-Content $serverFile $server
    $process = Start-Process /usr/bin/python3 -ArgumentList @($serverFile, $port, $repo) -PassThru
    $uri = "http://127.0.0.1:$port/health"
    $deadline = [DateTime]::UtcNow.AddSeconds(10)
    while ([DateTime]::UtcNow -lt $deadline) { try { $null = Invoke-WebRequest $uri -TimeoutSec 1 -SkipHttpErrorCheck; break } catch { Start-Sleep -Milliseconds 50 } }
    $state = Join-Path $root 'state'
    $null = Test-RollbackHealth -Strategy Git -Path $repo -Uri $uri -RecordVerified -StateDirectory $state
    [pscustomobject]@{ Repo = $repo; Uri = $uri; State = $state; Server = $process; Key = "git:$repo" }
}

function Start-Watcher($app, [string] $arguments) {
    $script = Join-Path (Split-Path $app.Repo) 'watch.ps1'
    Set-Content $script "Import-Module '$module'; `$null = Watch-RollbackTarget -Strategy Git -Path '$($app.Repo)' -HealthCheckUri '$($app.Uri)' -StateDirectory '$($app.State)' -Confirm:`$false $arguments"
    Start-Process $pwsh -ArgumentList ($pwshArgs + @('-NoProfile', '-NonInteractive', '-File', $script)) -PassThru -RedirectStandardOutput (Join-Path (Split-Path $app.Repo) 'out.txt')
}

$work = Join-Path ([IO.Path]::GetTempPath()) "dr-bench-watch-$PID"
$detections = [Collections.Generic.List[double]]::new()
try {
    foreach ($run in 1..$Runs) {
        $app = New-App (Join-Path $work "detect-$run")
        try {
            $watcher = Start-Watcher $app '-IntervalSec 1 -FailureLimit 3 -DurationSec 40'
            $deadline = [DateTime]::UtcNow.AddSeconds(30)
            while ([DateTime]::UtcNow -lt $deadline -and @(Get-RollbackHistory -TargetKey $app.Key -Watch -Measurement -StateDirectory $app.State).Count -lt 2) { Start-Sleep -Milliseconds 100 }
            # A random phase against the watcher's rounds, as a real deployment has.
            Start-Sleep -Milliseconds (Get-Random -Minimum 0 -Maximum 1000)
            $deployed = [DateTimeOffset]::UtcNow
            Invoke-Git $app.Repo checkout --quiet main
            $started = $null
            $deadline = [DateTime]::UtcNow.AddSeconds(20)
            while ([DateTime]::UtcNow -lt $deadline -and -not $started) {
                $started = Get-RollbackSignal -StateDirectory $app.State -Name ROLLBACK_STARTED | Select-Object -First 1
                if (-not $started) { Start-Sleep -Milliseconds 50 }
            }
            if (-not $started) { throw "The watcher did not start a rollback within 20 s (run $run)." }
            $detections.Add(($started.Time - $deployed).TotalSeconds)
        }
        finally {
            if ($watcher -and -not $watcher.HasExited) { $watcher.Kill($true) }
            $app.Server.Kill()
        }
    }

    $app = New-App (Join-Path $work 'idle')
    try {
        $watcher = Start-Watcher $app "-DurationSec $($IdleSeconds + 40)"
        Start-Sleep -Seconds 30
        $ticks = { param($id) $f = (Get-Content "/proc/$id/stat" -Raw) -replace '^.*\) ', '' -split ' '; [long]$f[11] + [long]$f[12] }
        $rss = { param($id) [double]((Get-Content "/proc/$id/status" | Select-String '^VmRSS:\s+(\d+)').Matches[0].Groups[1].Value) / 1024 }
        $hz = [double](getconf CLK_TCK)
        $cpu0 = & $ticks $watcher.Id
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $peak = 0.0
        while ($clock.Elapsed.TotalSeconds -lt $IdleSeconds) {
            $peak = [Math]::Max($peak, (& $rss $watcher.Id))
            Start-Sleep -Seconds 5
        }
        $cpuPercent = ((& $ticks $watcher.Id) - $cpu0) / $hz / $clock.Elapsed.TotalSeconds * 100
        $rounds = @(Get-RollbackHistory -TargetKey $app.Key -Watch -Measurement -Last 100000 -StateDirectory $app.State).Count
    }
    finally {
        if ($watcher -and -not $watcher.HasExited) { $watcher.Kill($true) }
        $app.Server.Kill()
    }

    # The listener: the checkout fails; alert posts of four kinds in turn.
    $app = New-App (Join-Path $work 'listener')
    try {
        Invoke-Git $app.Repo checkout --quiet main
        $port = Get-FreePort
        $prefix = "http://127.0.0.1:$port/alerts/"
        $listenerScript = Join-Path $work 'listener/listen.ps1'
        Set-Content $listenerScript ("Import-Module '$module'; `$r = Start-RollbackSignalListener -Prefix '$prefix' -BearerToken (ConvertTo-SecureString 'bench-token' -AsPlainText -Force) " +
            "-MaxBodyBytes 65536 -Strategy Git -Path '$($app.Repo)' -HealthCheckUri '$($app.Uri)' -StateDirectory '$($app.State)' -Confirm:`$false; " +
            "'REPORT=' + (`$r[-1] | Select-Object Requests, Accepted, Unauthorized, Invalid, Duplicates, @{ n = 'Rollbacks'; e = { `$_.Rollbacks.Count } } | ConvertTo-Json -Compress)")
        $listenerOut = Join-Path $work 'listener/out.txt'
        $listener = Start-Process $pwsh -ArgumentList ($pwshArgs + @('-NoProfile', '-NonInteractive', '-File', $listenerScript)) -PassThru -RedirectStandardOutput $listenerOut
        $deadline = [DateTime]::UtcNow.AddSeconds(30)
        while ([DateTime]::UtcNow -lt $deadline) { try { $null = Invoke-RestMethod $prefix -TimeoutSec 1; break } catch { Start-Sleep -Milliseconds 100 } }
        $valid = Get-Content -Raw (Join-Path $PSScriptRoot '../tests/Fixtures/alerts/alertmanager-firing.json')
        $kinds = @(
            @{ Body = $valid; Auth = $true; Expect = 202 }
            @{ Body = $valid; Auth = $false; Expect = 401 }
            @{ Body = '{ not json'; Auth = $true; Expect = 400 }
            @{ Body = '{"a":"' + ('x' * 70000) + '"}'; Auth = $true; Expect = 413 }
        )
        $client = [Net.Http.HttpClient]::new()
        $wrong = 0
        $clock = [Diagnostics.Stopwatch]::StartNew()
        for ($i = 0; $i -lt $Posts; $i++) {
            $kind = $kinds[$i % 4]
            $request = [Net.Http.HttpRequestMessage]::new([Net.Http.HttpMethod]::Post, $prefix)
            $request.Content = [Net.Http.StringContent]::new($kind.Body, [Text.Encoding]::UTF8, 'application/json')
            if ($kind.Auth) { $request.Headers.Authorization = [Net.Http.Headers.AuthenticationHeaderValue]::new('Bearer', 'bench-token') }
            $response = $client.Send($request)
            if ([int]$response.StatusCode -ne $kind.Expect) { $wrong++ }
            $response.Dispose()
        }
        $postSeconds = $clock.Elapsed.TotalSeconds
        # The rollback runs after the first valid post's answer: wait for it to be journaled, then stop the listener.
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while ([DateTime]::UtcNow -lt $deadline -and -not (Get-RollbackHistory -TargetKey $app.Key -StateDirectory $app.State | Where-Object Outcome -ne Running)) { Start-Sleep -Milliseconds 200 }
        kill -TERM $listener.Id
        $listener.WaitForExit(60000) | Out-Null
        $listenerReport = (Get-Content $listenerOut | Where-Object { $_ -like 'REPORT=*' }).Substring(7) | ConvertFrom-Json
        $attempts = @(Get-RollbackHistory -TargetKey $app.Key -StateDirectory $app.State).Count
    }
    finally {
        if ($listener -and -not $listener.HasExited) { $listener.Kill($true) }
        $app.Server.Kill()
    }

    $detectMedian = Get-Median $detections
    $detectWorst = ($detections | Measure-Object -Maximum).Maximum
    Write-Host ("Listener: {0} posts in {1:0.0} s, {2} wrong answers, {3} rollback(s) journaled, report {4}" -f $Posts, $postSeconds, $wrong, $attempts, ($listenerReport | ConvertTo-Json -Compress))
    Write-Host ("Watcher: detection to ROLLBACK_STARTED median {0:0.00} s, worst {1:0.00} s; idle {2:0.000} % CPU, {3:0} MB peak over {4} s ({5} rounds)" -f $detectMedian, $detectWorst, $cpuPercent, $peak, $IdleSeconds, $rounds)
    @(
        '## Automatic rollback (watcher and alert listener)'
        ''
        "A Git checkout served by a small HTTP server whose health follows app.txt; each watcher a fresh pwsh process. Detection: the bad release checked out at a random moment against the watcher's rounds (``-IntervalSec 1 -FailureLimit 3``), to the ``ROLLBACK_STARTED`` signal; $Runs runs. Idle: a watcher of a healthy target at the default ``-IntervalSec 10`` for $IdleSeconds s after a 30 s warm-up ($rounds measurements journaled), CPU time from /proc over wall time and the largest VmRSS."
        ''
        '| Measurement | Figure | Goal | Met |'
        '|---|---:|---|---|'
        "| Bad release to ``ROLLBACK_STARTED``, median (worst) | $($detectMedian.ToString('0.00', $invariant)) s ($($detectWorst.ToString('0.00', $invariant)) s) | ≤ 1 s × 3 + 1 s = 4 s | $(if ($detectWorst -le 4) { 'yes' } else { 'no' }) |"
        "| Idle watcher, CPU (one core) | $($cpuPercent.ToString('0.000', $invariant)) % | < 1 % | $(if ($cpuPercent -lt 1) { 'yes' } else { 'no' }) |"
        "| Idle watcher, peak working set | $($peak.ToString('0', $invariant)) MB | < 150 MB | $(if ($peak -lt 150) { 'yes' } else { 'no' }) |"
        "| Listener: $Posts posts (valid and repeated, unauthorized, not JSON, too large, in turn), answers not as expected | $wrong (in $($postSeconds.ToString('0.0', $invariant)) s, $([Math]::Round($Posts / $postSeconds)) posts/s; $($listenerReport.Accepted) accepted, $($listenerReport.Duplicates) duplicates, $($listenerReport.Unauthorized) unauthorized, $($listenerReport.Invalid) invalid) | 0 | $(if ($wrong -eq 0) { 'yes' } else { 'no' }) |"
        "| Listener: rollbacks journaled for those posts | $attempts | 1 | $(if ($attempts -eq 1) { 'yes' } else { 'no' }) |"
        ''
        'Reproduce: `dotnet pwsh build.ps1 Bench -Only Watch` (this section only).'
    )
}
finally {
    Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
}
