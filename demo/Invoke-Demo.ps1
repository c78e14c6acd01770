<#
.SYNOPSIS
    The README's first command: a failed deployment of a small app, taken back to its verified-good release
    through all four phases. Needs nothing but this machine: the app runs on loopback, the state in a temp folder.
#>
param([Parameter(Mandatory)] [string] $ModulePath)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Import-Module $ModulePath
Import-Module (Join-Path $PSScriptRoot 'DemoApp.psm1')

function Step([string] $text) { Write-Host "`n=== $text" -ForegroundColor Cyan }
function Invoke-Git { git -C $repo @args 2>&1 | Out-Null; if ($LASTEXITCODE) { throw "git $args failed" } }

$work = Join-Path ([IO.Path]::GetTempPath()) "deployment-rollback-demo-$([DateTime]::UtcNow.ToString('yyyyMMddHHmmss'))"
$repo = Join-Path $work 'app'
$state = Join-Path $work 'state'
New-Item -ItemType Directory -Force $repo | Out-Null
$env:DEPLOYMENT_ROLLBACK_HOME = $state
$env:API_KEY = $null
$port = Get-FreeTcpPort
$health = "http://127.0.0.1:$port/health"

try {
    Step "Release v2.3.0 and v2.3.1 of a small app in $repo"
    Invoke-Git init --quiet --initial-branch main
    Invoke-Git config user.name 'Demo Deployer'
    Invoke-Git config user.email 'deployer@example.invalid'
    Set-Content (Join-Path $repo 'app.json') '{ "version": "2.3.0", "requiredEnvironment": [] }'
    Invoke-Git add app.json
    Invoke-Git commit --quiet -m 'Release 2.3.0'
    Invoke-Git tag v2.3.0
    Set-Content (Join-Path $repo 'app.json') '{ "version": "2.3.1", "requiredEnvironment": ["API_KEY"] }'
    Invoke-Git commit --quiet -am 'Release 2.3.1: call the partner API (needs API_KEY)'
    Invoke-Git tag v2.3.1
    Invoke-Git checkout --quiet v2.3.0

    Step "v2.3.0 is deployed, serving on 127.0.0.1:$port, and verified good"
    Start-DemoApp -ReleasePath $repo -Port $port
    Test-RollbackHealth -Strategy Git -Uri $health -Path $repo -RecordVerified | Out-Host

    Step 'Deploy v2.3.1: it starts, but its health check fails'
    Invoke-Git checkout --quiet v2.3.1
    Restart-DemoApp -ReleasePath $repo -Port $port
    $failed = Test-RollbackHealth -Strategy Git -Uri $health -Path $repo -HealthCheckRetries 1 -HealthCheckRetryIntervalSec 0.5 -SignalOnFailure
    $failed.Checks | Format-Table Passed, StatusCode, Uri, Message -AutoSize | Out-Host
    $null = Send-RollbackSignal DEPLOYMENT_FAILED -TargetKey $failed.TargetKey -Data @{ failure_type = 'HealthCheckFailed'; version = 'v2.3.1'; error = $failed.Checks[0].BodyExcerpt } -Reason 'Missing environment variable: API_KEY'

    Step 'Phase 1: assessment'
    $assessment = Get-RollbackAssessment -Strategy Git -Path $repo -HealthCheckUri $health -HealthCheckRetries 0
    $assessment | Format-List FailureType, FailureReason, CurrentVersion, LastGoodVersion, LastGoodSource, Changes, RecommendedStrategy, Rationale | Out-Host

    Step 'Phases 2 and 3: checkpoint, roll back, restart, verify'
    $result = $assessment |
        New-RollbackCheckpoint -PassThru |
        Invoke-Rollback -Confirm:$false -RestartScript { Restart-DemoApp -ReleasePath $repo -Port $port } -HealthCheckUri $health -SmokeTest {
            (Invoke-RestMethod "http://127.0.0.1:$port/version").version -eq '2.3.0'
        }
    $result | Out-Host
    $result.Steps | Out-Host

    Step 'Phase 4: signals, checklist and incident report'
    Get-RollbackSignal | Out-Host
    $report = $result | New-RollbackIncidentReport
    $result | Get-RollbackChecklist | Format-Table -AutoSize | Out-Host
    Write-Host "Incident report: $($report.MarkdownPath)"
    Write-Host "Time to recovery: $([Math]::Round($result.TimeToRecovery.TotalSeconds, 1)) s; outcome: $($result.Outcome)"
    if ($result.Outcome -ne 'Succeeded') { throw "The demo rollback did not succeed: $($result.Message)" }
}
finally {
    Stop-DemoApp
    Write-Host "`nEverything the demo made is in $work"
}
