<#
.SYNOPSIS
    Starts real Prometheus and Alertmanager (Debian's prometheus 2.42 and prometheus-alertmanager 0.25) on loopback,
    with a small test application whose error rate depends on the deployed release, and stops them again with -Stop.
.DESCRIPTION
    - The application (metrics-app/app.py, run by /usr/bin/python3) reads -ReleaseFile on every request: a line with
      'bad' in it is a bad release (about 40 % errors and ~800 ms latencies), anything else a good one (0-1 % errors,
      ~50 ms). Write the file to "deploy" a release; the error ratio follows within a few scrapes.
    - Prometheus scrapes it every second (job 'checkout', label service="checkout") and evaluates every second the
      alerting rule CheckoutHighErrorRate (the error ratio over 5 s above 0.2 for 2 s; labels severity=critical,
      service=checkout), sending alerts to this fixture's Alertmanager.
    - Alertmanager groups by alertname and service (group_wait 1 s, group_interval 2 s, repeat_interval 3 s) and posts
      its webhook JSON, resolved notifications included, to -WebhookUrl. Without -WebhookUrl the receiver has no
      webhook (Alertmanager drops the notifications).
    - All three listen on free loopback ports; the call waits (-TimeoutSeconds, 30 s at most by default) for the
      application's /health, both /-/ready endpoints, Prometheus having scraped the application twice (so the error
      ratio has a value) and Prometheus knowing its Alertmanager.
    Several instances may run at once: each -Name has its own state file (JSON: pids, ports, folder, addresses), which
    -Stop reads, from any process: it stops the three processes and deletes the temp folder (and with it the default
    release file). A state file of the same name left by a run that was not stopped is stopped first.
    Never throws for a missing prerequisite (prometheus, prometheus-alertmanager, /usr/bin/python3): it returns
    Available = $false and the Reason.
.OUTPUTS
    An object: Available, Started (this call started processes; stop them with -Stop), Reason, Name, AppUrl,
    PrometheusUrl, AlertmanagerUrl, ReleaseFile, WebhookUrl, ErrorRatioQuery (the PromQL of the error ratio), AlertName,
    AppPid, PrometheusPid, AlertmanagerPid, DataPath.
.EXAMPLE
    $prometheus = & tests/Fixtures/Start-Prometheus.ps1 -Name watcher -WebhookUrl "http://127.0.0.1:$port/alerts"
    Set-Content $prometheus.ReleaseFile 'v2.3.1-bad'
    Invoke-RestMethod "$($prometheus.PrometheusUrl)/api/v1/query" -Body @{ query = $prometheus.ErrorRatioQuery }
    & tests/Fixtures/Start-Prometheus.ps1 -Name watcher -Stop
#>
param(
    [switch] $Stop,
    [ValidatePattern('^[A-Za-z0-9_-]+$')] [string] $Name = 'default',
    [string] $ReleaseFile,
    [string] $WebhookUrl,
    # Alertmanager sends 'Authorization: Bearer <token>' with each webhook post (http_config.authorization).
    [string] $WebhookBearerToken,
    [string] $StatePath = (Join-Path ([IO.Path]::GetTempPath()) "deployment-rollback-prometheus-$Name.json"),
    [int] $TimeoutSeconds = 30
)

$ErrorActionPreference = 'Stop'
$python = '/usr/bin/python3'
$appScript = Join-Path $PSScriptRoot 'metrics-app/app.py'
$alertName = 'CheckoutHighErrorRate'
$errorRatioQuery = 'sum(rate(app_requests_total{job="checkout",code="500"}[5s])) / sum(rate(app_requests_total{job="checkout"}[5s]))'

. (Join-Path $PSScriptRoot 'FreePort.ps1')

# A process of the state is ours only while its command line still has our marker (pids get reused): the temp folder
# for Prometheus and Alertmanager, the script and its port for the application.
function Test-OurProcess([int] $id, [string] $marker) {
    $cmdline = "/proc/$id/cmdline"
    $marker -and (Test-Path $cmdline) -and ((Get-Content -Raw $cmdline) -replace "`0", ' ').Contains($marker)
}

function Stop-Fixture([object] $state) {
    # Alertmanager first (nothing more is posted), then Prometheus, then the application.
    foreach ($key in 'AlertmanagerPid', 'PrometheusPid', 'AppPid') {
        $id = $state.$key
        $marker = if ($key -eq 'AppPid') { "app.py $(([Uri]$state.AppUrl).Port) " } else { $state.DataPath }
        if (-not $id -or -not (Test-OurProcess $id $marker)) { continue }
        $process = Get-Process -Id $id -ErrorAction SilentlyContinue
        # All three shut down gracefully on SIGTERM within a second or two; whatever is left after 10 s gets SIGKILL.
        kill -TERM $id 2>$null
        if ($process -and -not $process.WaitForExit(10000)) {
            Write-Warning "$key $id ignored SIGTERM: killing it"
            $process.Kill(); $process.WaitForExit()
        }
    }
    if ($state.DataPath -and (Test-Path $state.DataPath)) { Remove-Item -Recurse -Force $state.DataPath }
}

function Read-State {
    if (-not (Test-Path $StatePath)) { return $null }
    try { Get-Content -Raw $StatePath | ConvertFrom-Json } catch { $null }
}

if ($Stop) {
    $state = Read-State
    if ($state) {
        Stop-Fixture $state
        Remove-Item $StatePath -Force
        Write-Host "Stopped Prometheus '$Name' (pids $($state.AppPid), $($state.PrometheusPid), $($state.AlertmanagerPid)); removed $($state.DataPath)."
    }
    return
}

function New-Result([bool] $available, [string] $reason, [bool] $started = $false) {
    [pscustomobject]@{
        Available = $available; Started = $started; Reason = $reason; Name = $Name
        AppUrl = $null; PrometheusUrl = $null; AlertmanagerUrl = $null; ReleaseFile = $null; WebhookUrl = $WebhookUrl
        ErrorRatioQuery = $errorRatioQuery; AlertName = $alertName
        AppPid = $null; PrometheusPid = $null; AlertmanagerPid = $null; DataPath = $null
    }
}

$previous = Read-State
if ($previous) {
    Write-Host "A previous Prometheus fixture '$Name' was not stopped: stopping it."
    Stop-Fixture $previous
    Remove-Item $StatePath -Force
}

# Prerequisites: a missing one is a Reason, not an exception.
$install = 'apt-get install -y --no-install-recommends prometheus prometheus-alertmanager'
foreach ($tool in 'prometheus', 'prometheus-alertmanager') {
    if (-not (Get-Command $tool -CommandType Application -ErrorAction SilentlyContinue)) {
        return New-Result $false "$tool is not installed (Debian's packages prometheus and prometheus-alertmanager: $install)"
    }
}
if (-not (Test-Path $python)) { return New-Result $false "$python is not installed (it runs the test application)" }
if ($WebhookUrl -and -not [Uri]::IsWellFormedUriString($WebhookUrl, [UriKind]::Absolute)) {
    return New-Result $false "-WebhookUrl '$WebhookUrl' is not an absolute URL"
}

$ports = [Collections.Generic.HashSet[int]]::new()
while ($ports.Count -lt 3) { $null = $ports.Add((Get-FreePort)) }
$appPort, $prometheusPort, $alertmanagerPort = @($ports)
$dataPath = Join-Path ([IO.Path]::GetTempPath()) "deployment-rollback-prometheus-$Name-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
New-Item -ItemType Directory -Force $dataPath | Out-Null
if (-not $ReleaseFile) { $ReleaseFile = Join-Path $dataPath 'release.txt' }
$ReleaseFile = [IO.Path]::GetFullPath($ReleaseFile)
if (-not (Test-Path $ReleaseFile)) { Set-Content $ReleaseFile 'good' }

$appUrl = "http://127.0.0.1:$appPort"
$prometheusUrl = "http://127.0.0.1:$prometheusPort"
$alertmanagerUrl = "http://127.0.0.1:$alertmanagerPort"
$state = [ordered]@{
    Name = $Name; DataPath = $dataPath; AppUrl = $appUrl; PrometheusUrl = $prometheusUrl; AlertmanagerUrl = $alertmanagerUrl
    ReleaseFile = $ReleaseFile; WebhookUrl = $WebhookUrl; AppPid = $null; PrometheusPid = $null; AlertmanagerPid = $null
}
function Save-State { $state | ConvertTo-Json | Set-Content $StatePath }
Save-State

# The configuration files (YAML; single-quoted strings double their quotes).
function ConvertTo-YamlString([string] $text) { "'" + $text.Replace("'", "''") + "'" }
$prometheusConfig = @'
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - rules.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:__ALERTMANAGER_PORT__']
scrape_configs:
  - job_name: checkout
    static_configs:
      - targets: ['127.0.0.1:__APP_PORT__']
        labels:
          service: checkout
'@ -replace '__ALERTMANAGER_PORT__', $alertmanagerPort -replace '__APP_PORT__', $appPort
$rules = @'
groups:
  - name: checkout
    rules:
      - alert: __ALERT__
        expr: sum by (service) (rate(app_requests_total{job="checkout",code="500"}[5s])) / sum by (service) (rate(app_requests_total{job="checkout"}[5s])) > 0.2
        for: 2s
        labels:
          severity: critical
          service: checkout
        annotations:
          summary: 'checkout: {{ $value | humanizePercentage }} of the requests fail'
          description: 'More than 20 % of the checkout requests failed over the last 5 seconds.'
'@ -replace '__ALERT__', $alertName
$receiver = if ($WebhookUrl) {
    "    webhook_configs:`n      - url: $(ConvertTo-YamlString $WebhookUrl)`n        send_resolved: true" +
    $(if ($WebhookBearerToken) { "`n        http_config:`n          authorization:`n            credentials: $(ConvertTo-YamlString $WebhookBearerToken)" })
}
else { '    # no webhook: notifications are dropped' }
$alertmanagerConfig = @"
route:
  receiver: webhook
  group_by: ['alertname', 'service']
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 3s
receivers:
  - name: webhook
$receiver
"@
Set-Content (Join-Path $dataPath 'prometheus.yml') $prometheusConfig
Set-Content (Join-Path $dataPath 'rules.yml') $rules
Set-Content (Join-Path $dataPath 'alertmanager.yml') $alertmanagerConfig

# Start-Process joins its arguments with spaces: one with a space or a quote is quoted (.NET splits them back).
function Start-Logged([string] $file, [string[]] $arguments, [string] $log) {
    $arguments = foreach ($argument in $arguments) { if ($argument -match '[\s"]') { '"' + $argument.Replace('"', '\"') + '"' } else { $argument } }
    Start-Process $file -ArgumentList $arguments -WorkingDirectory $dataPath -PassThru `
        -RedirectStandardOutput (Join-Path $dataPath "$log.out") -RedirectStandardError (Join-Path $dataPath "$log.err")
}

function Test-Get([string] $uri) {
    try { (Invoke-WebRequest $uri -TimeoutSec 2 -SkipHttpErrorCheck).StatusCode -eq 200 } catch { $false }
}

$result = New-Result $false '' $true
$clock = [Diagnostics.Stopwatch]::StartNew()
$processes = [ordered]@{}
try {
    # The application, then Alertmanager before Prometheus, which sends it alerts. Each pid is saved at once.
    $commands = [ordered]@{
        AppPid          = @($python, '-u', $appScript, $appPort, '--release-file', $ReleaseFile)
        AlertmanagerPid = @('prometheus-alertmanager', "--config.file=$(Join-Path $dataPath 'alertmanager.yml')",
            "--storage.path=$(Join-Path $dataPath 'alertmanager')", "--web.listen-address=127.0.0.1:$alertmanagerPort",
            "--web.external-url=$alertmanagerUrl", '--cluster.listen-address=', '--log.level=warn')
        PrometheusPid   = @('prometheus', "--config.file=$(Join-Path $dataPath 'prometheus.yml')",
            "--storage.tsdb.path=$(Join-Path $dataPath 'prometheus')", "--web.listen-address=127.0.0.1:$prometheusPort",
            "--web.external-url=$prometheusUrl", '--web.enable-lifecycle', '--log.level=warn')
    }
    foreach ($key in $commands.Keys) {
        $processes[$key] = Start-Logged $commands[$key][0] @($commands[$key] | Select-Object -Skip 1) ($key -replace 'Pid$').ToLowerInvariant()
        $state[$key] = $processes[$key].Id
        Save-State
    }

    $checks = [ordered]@{
        'the application /health'     = { Test-Get "$appUrl/health" }
        'Alertmanager /-/ready'       = { Test-Get "$alertmanagerUrl/-/ready" }
        'Prometheus /-/ready'         = { Test-Get "$prometheusUrl/-/ready" }
        'Prometheus knows Alertmanager' = {
            try { @((Invoke-RestMethod "$prometheusUrl/api/v1/alertmanagers" -TimeoutSec 2).data.activeAlertmanagers).Count -gt 0 } catch { $false }
        }
        'an error ratio in Prometheus (two scrapes)' = {
            try { @((Invoke-RestMethod "$prometheusUrl/api/v1/query" -Body @{ query = $errorRatioQuery } -TimeoutSec 2).data.result).Count -gt 0 } catch { $false }
        }
    }
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    $readyAt = [ordered]@{}
    foreach ($check in $checks.Keys) {
        while (-not (& $checks[$check])) {
            $exited = @($processes.Keys | Where-Object { $processes[$_].HasExited })
            if ($exited -or [DateTime]::UtcNow -gt $deadline) {
                $why = if ($exited) { "$($exited -join ', ') exited" } else { "no $check within $TimeoutSeconds s" }
                $logs = foreach ($log in 'app', 'alertmanager', 'prometheus') {
                    $tail = @(Get-Content (Join-Path $dataPath "$log.out"), (Join-Path $dataPath "$log.err") -ErrorAction SilentlyContinue | Select-Object -Last 10)
                    if ($tail) { "${log}:`n$($tail -join "`n")" }
                }
                throw "The Prometheus fixture did not start: $why.`n$($logs -join "`n")"
            }
            Start-Sleep -Milliseconds 200
        }
        $readyAt[$check] = $clock.Elapsed.TotalSeconds
    }

    $result.Available = $true
    $result.AppUrl = $appUrl
    $result.PrometheusUrl = $prometheusUrl
    $result.AlertmanagerUrl = $alertmanagerUrl
    $result.ReleaseFile = $ReleaseFile
    $result.AppPid = $state.AppPid
    $result.PrometheusPid = $state.PrometheusPid
    $result.AlertmanagerPid = $state.AlertmanagerPid
    $result.DataPath = $dataPath
    # 'prometheus, version 2.42.0+ds (branch: ...)' -> 'Prometheus 2.42.0+ds'
    $versions = foreach ($tool in 'prometheus', 'prometheus-alertmanager') {
        "$(& $tool --version 2>&1 | Select-Object -First 1)" -replace '^(\w)(\w*), version (\S+).*$', { "$($_.Groups[1].Value.ToUpperInvariant())$($_.Groups[2].Value) $($_.Groups[3].Value)" }
    }
    $result.Reason = "$($versions -join ' and ') up: app $appUrl, Prometheus $prometheusUrl, Alertmanager $alertmanagerUrl, webhook $(if ($WebhookUrl) { $WebhookUrl } else { 'none' })"
    $timing = 'in {0:N1} s (ready {1:N1} s, first error ratio {2:N1} s)' -f $clock.Elapsed.TotalSeconds,
        $readyAt['Prometheus /-/ready'], $readyAt['an error ratio in Prometheus (two scrapes)']
    Write-Host "Started Prometheus fixture '$Name': app $appUrl, Prometheus $prometheusUrl, Alertmanager $alertmanagerUrl, $timing."
    $result
}
catch {
    # Leave nothing running behind a failure.
    $reason = $_.Exception.Message
    Stop-Fixture ([pscustomobject]$state)
    Remove-Item $StatePath -Force -ErrorAction SilentlyContinue
    New-Result $false $reason
}
