<#
.SYNOPSIS
    The README's first command: a failed release of a small service, taken back to its verified-good release through
    all four phases with one plan. Release v2.4.0 turns on a feature flag (a FeatureManagement appsettings.json),
    changes the configuration file and ships new code; the plan rolls back the flag, the configuration and the code,
    in that order, restarts the app, verifies it and reports one incident. Needs nothing but this machine: the app
    runs on loopback, the state in a temp folder.
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
$plan = Join-Path $work 'rollback.psd1'
New-Item -ItemType Directory -Force $repo, (Join-Path $work 'config') | Out-Null
$env:DEPLOYMENT_ROLLBACK_HOME = $state
$env:API_KEY = $null
$port = Get-FreeTcpPort
$health = "http://127.0.0.1:$port/health"
$restart = { Restart-DemoApp -ReleasePath $repo -Port $port -SettingsPath $work }
# The on-call channel the rollback tells (any JSON webhook; a Teams or Slack webhook URL works the same way).
$inboxPort = Get-FreeTcpPort
$inbox = Join-Path $work 'oncall-channel'
$env:DEPLOYMENT_ROLLBACK_NOTIFY = "webhook+http://127.0.0.1:$inboxPort/oncall"

try {
    Step "The shop service in $work`: code (a Git checkout), config/app.yml and appsettings.json (feature flags)"
    Invoke-Git init --quiet --initial-branch main
    Invoke-Git config user.name 'Demo Deployer'
    Invoke-Git config user.email 'deployer@example.invalid'
    Set-Content (Join-Path $repo 'app.json') '{ "version": "2.3.0", "requiredEnvironment": [] }'
    Invoke-Git add app.json
    Invoke-Git commit --quiet -m 'Release 2.3.0'
    Invoke-Git tag v2.3.0
    Set-Content (Join-Path $work 'config/app.yml') "checkout: classic`n"
    Set-Content (Join-Path $work 'appsettings.json') '{ "FeatureManagement": { "NewCheckout": false } }'
    Set-Content $plan @"
@{
    Service    = 'shop'
    Components = @(
        @{ Name = 'web'; Strategy = 'Git'; Path = './app' }
        @{ Name = 'config'; Strategy = 'Config'; Path = './config/app.yml' }
        @{ Name = 'checkout-flag'; Strategy = 'FeatureFlag'; Provider = 'FeatureManagement'; Path = './appsettings.json'; Flag = 'NewCheckout' }
    )
    HealthCheckUri = '$health'
}
"@
    Test-RollbackPlan $plan | Select-Object -ExpandProperty Components | Format-Table Wave, Name, Strategy, Stage -AutoSize | Out-Host

    Step "Release v2.3.0 is deployed, serving on 127.0.0.1:$port, and recorded verified-good"
    Start-DemoApp -ReleasePath $repo -Port $port -SettingsPath $work
    Start-DemoInbox -Port $inboxPort -Folder $inbox
    Test-RollbackHealth -Plan $plan -RecordVerified | Format-List Healthy, Version, RecordedVerifiedVersion | Out-Host
    Get-RollbackHistory -Plan $plan | Select-Object -ExpandProperty Components | Format-Table Name, Version, Identity -AutoSize | Out-Host

    Step 'Deploy v2.4.0: new code, a new config setting, and the NewCheckout flag turned on; the health check fails'
    Set-Content (Join-Path $repo 'app.json') '{ "version": "2.4.0", "requiredEnvironment": [] }'
    Invoke-Git commit --quiet -am 'Release 2.4.0: the new checkout (calls the partner API)'
    Invoke-Git tag v2.4.0
    Set-Content (Join-Path $work 'config/app.yml') "checkout: new`nNewCheckoutRequiresEnv: API_KEY`n"
    Set-Content (Join-Path $work 'appsettings.json') '{ "FeatureManagement": { "NewCheckout": true } }'
    & $restart
    $failed = Test-RollbackHealth -Plan $plan -HealthCheckRetries 1 -HealthCheckRetryIntervalSec 0.5 -SignalOnFailure
    $failed.Checks | Format-Table Passed, StatusCode, Uri, Message -AutoSize | Out-Host
    $null = Send-RollbackSignal DEPLOYMENT_FAILED -TargetKey $failed.TargetKey -Data @{ failure_type = 'HealthCheckFailed'; version = 'v2.4.0'; error = $failed.Checks[0].BodyExcerpt } -Reason 'Missing environment variable: API_KEY'

    Step 'Phase 1: assessment of every component against the release snapshot (nothing changes)'
    $assessment = Get-RollbackAssessment -Plan $plan
    $assessment | Format-List Service, ReleaseLabel, FailureType, FailureReason, CanRollBack | Out-Host
    $assessment.Components | Format-Table Wave, Name, CurrentVersion, SnapshotVersion, Selected, CanRollBack, SelectionReason -AutoSize -Wrap | Out-Host

    Step 'Phases 2 and 3: per component, in order (flag, config, code): checkpoint, roll back; then restart and verify'
    $result = Invoke-Rollback -Plan $plan -RestartScript $restart -Reason 'Missing environment variable: API_KEY' -Confirm:$false
    $result | Format-List Outcome, Message, ToVersion, Verification, TimeToRecovery | Out-Host
    $result.Components | Format-Table Wave, Name, Action, FromVersion, ToVersion, VersionNow -AutoSize | Out-Host

    Step 'Phase 4: signals, checklist and incident report'
    Get-RollbackSignal | Out-Host
    Write-Host 'The on-call channel received:'
    Get-ChildItem $inbox -Filter *.json | Sort-Object Name | ForEach-Object { "  " + (Get-Content -Raw $_.FullName | ConvertFrom-Json).title } | Out-Host
    $report = $result | New-RollbackIncidentReport -Format Html
    $result | Get-RollbackChecklist | Format-Table -AutoSize | Out-Host
    Write-Host "Incident report: $($report.MarkdownPath)"
    Write-Host "Incident page (open it in a browser): $($report.HtmlPath)"
    Write-Host "Time to recovery: $([Math]::Round($result.TimeToRecovery.TotalSeconds, 1)) s; outcome: $($result.Outcome)"
    if ($result.Outcome -ne 'Succeeded') { throw "The demo rollback did not succeed: $($result.Message)" }
}
finally {
    Stop-DemoApp
    Stop-DemoInbox
    Write-Host "`nEverything the demo made is in $work"
}
