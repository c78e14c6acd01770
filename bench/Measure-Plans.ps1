<#
.SYNOPSIS
    Release plan figures for docs/BENCHMARKS.md: a 4-component service (a FeatureManagement flag file, a config file, a
    Git checkout and a Django app on SQLite) rolled back by one Invoke-Rollback -Plan, against the runbook an admin
    writes without plans: the four Invoke-Rollback calls in sequence, then the service's check. Returns the report's
    markdown lines. Expects the module imported by the caller.
.DESCRIPTION
    Two copies of the service, one per side, each with its verified-good release recorded once. Before every timed
    run (not timed) each copy is deployed again: flag on, new config, v2.4.0 checked out, migration 0002 applied. The
    sides alternate in one process (module imported and warm), -Runs times; medians. The plan layer's own cost is
    the plan's time minus the time its four component attempts took (their journaled durations): the assessment and
    preflight, ordering, locks, the plan's journal entry and signals, and the final check.
#>
param([ValidateRange(1, 50)] [int] $Runs = 7)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$invariant = [Globalization.CultureInfo]::InvariantCulture
Import-Module (Join-Path $PSScriptRoot 'BenchSupport.psm1')
function Format-Ms([double] $ms) { $ms.ToString('0', $invariant) }

$python = '/usr/bin/python3'
if (-not (Test-Path $python) -or $null -eq (& $python -c 'import django; print(1)' 2>$null)) {
    return @('## Release plans', '', 'Not measured: Django is not installed here (Debian''s python3-django).')
}

$work = Join-Path ([IO.Path]::GetTempPath()) "dr-bench-plans-$PID"
function Invoke-Git([string] $repo) { $output = git -C $repo @args 2>&1; if ($LASTEXITCODE) { throw "git $args failed: $output" } }

# One copy of the service at release v2.3.0, recorded verified-good in its own state folder.
function New-Service([string] $root, [int] $Databases) {
    $app = Join-Path $root 'app'
    New-Item -ItemType Directory -Force $app, (Join-Path $root 'config') | Out-Null
    Invoke-Git $app init --quiet --initial-branch main
    Invoke-Git $app config user.name 'Bench'
    Invoke-Git $app config user.email 'bench@example.invalid'
    Set-Content (Join-Path $app 'VERSION') 'v2.3.0'
    Invoke-Git $app add VERSION
    Invoke-Git $app commit --quiet -m 'v2.3.0'
    Invoke-Git $app tag v2.3.0
    Set-Content (Join-Path $app 'VERSION') 'v2.4.0'
    Invoke-Git $app commit --quiet -am 'v2.4.0'
    Invoke-Git $app tag v2.4.0
    Invoke-Git $app checkout --quiet v2.3.0
    foreach ($db in Get-DatabaseFolders $Databases) {
        Copy-Item (Join-Path $PSScriptRoot '../tests/Fixtures/django-app') (Join-Path $root $db) -Recurse
        Push-Location (Join-Path $root $db); try { & $python manage.py migrate orders 0001 2>&1 | Out-Null } finally { Pop-Location }
    }
    $databaseComponents = (Get-DatabaseFolders $Databases | ForEach-Object { "        @{ Name = '$_'; Strategy = 'Database'; Tool = 'Django'; Path = './$_'; App = 'orders' }" }) -join "`n"
    Set-Content (Join-Path $root 'config/app.yml') 'checkout: classic'
    Set-Content (Join-Path $root 'appsettings.json') '{ "FeatureManagement": { "NewCheckout": false } }'
    Set-Content (Join-Path $root 'smoke.sh') "#!/bin/sh`ngrep -q v2.3.0 '$app/VERSION' && grep -q classic '$root/config/app.yml' && grep -q false '$root/appsettings.json'"
    & chmod +x (Join-Path $root 'smoke.sh')
    Set-Content (Join-Path $root 'rollback.psd1') @"
@{
    Service    = 'bench-$(Split-Path -Leaf $root)'
    Components = @(
        @{ Name = 'checkout-flag'; Strategy = 'FeatureFlag'; Provider = 'FeatureManagement'; Path = './appsettings.json'; Flag = 'NewCheckout' }
        @{ Name = 'config'; Strategy = 'Config'; Path = './config/app.yml' }
        @{ Name = 'web'; Strategy = 'Git'; Path = './app' }
$databaseComponents
    )
    SmokeTest = './smoke.sh'
}
"@
    $null = Test-RollbackHealth -Plan (Join-Path $root 'rollback.psd1') -RecordVerified -StateDirectory (Join-Path $root '.state') -Confirm:$false
}

function Get-DatabaseFolders([int] $count) { @('orders-db', 'billing-db')[0..($count - 1)] }

function Deploy-Release([string] $root, [int] $Databases) {
    Set-Content (Join-Path $root 'appsettings.json') '{ "FeatureManagement": { "NewCheckout": true } }'
    Set-Content (Join-Path $root 'config/app.yml') 'checkout: new'
    Invoke-Git (Join-Path $root 'app') checkout --quiet v2.4.0
    foreach ($db in Get-DatabaseFolders $Databases) {
        Push-Location (Join-Path $root $db); try { & $python manage.py migrate orders 0002 2>&1 | Out-Null } finally { Pop-Location }
    }
}

function Measure-Scenario([int] $Databases) {
    $planRoot = Join-Path $work "plan$Databases"
    $runbookRoot = Join-Path $work "runbook$Databases"
    New-Service $planRoot $Databases
    New-Service $runbookRoot $Databases
    $count = 3 + $Databases
    $planMs = [Collections.Generic.List[double]]::new()
    $runbookMs = [Collections.Generic.List[double]]::new()
    $componentMs = [Collections.Generic.List[double]]::new()
    for ($i = 0; $i -le $Runs; $i++) {
        Deploy-Release $planRoot $Databases
        Deploy-Release $runbookRoot $Databases
        $state = Join-Path $planRoot '.state'
        $started = [DateTimeOffset]::UtcNow
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $result = Invoke-Rollback -Plan (Join-Path $planRoot 'rollback.psd1') -StateDirectory $state -Confirm:$false
        $plan = $sw.Elapsed.TotalMilliseconds
        if ($result.Outcome -ne 'Succeeded' -or @($result.Components | Where-Object Action -EQ 'RolledBack').Count -ne $count) { throw "The plan did not roll back all $count components: $($result.Message)" }
        # Before the first change: reading the plan, locks, the assessment and preflight of every component, consent.
        $beforeChange = ($result.StartedAt - $started).TotalMilliseconds

        # The runbook: the same rollbacks, named one by one, then the service's check.
        $state = Join-Path $runbookRoot '.state'
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $outcomes = @(
            Invoke-Rollback -Strategy FeatureFlag -Provider FeatureManagement -Path (Join-Path $runbookRoot 'appsettings.json') -Flag NewCheckout -StateDirectory $state -Confirm:$false
            Invoke-Rollback -Strategy Config -Path (Join-Path $runbookRoot 'config/app.yml') -StateDirectory $state -Confirm:$false
            Invoke-Rollback -Strategy Git -Path (Join-Path $runbookRoot 'app') -Target v2.3.0 -StateDirectory $state -Confirm:$false
            foreach ($db in Get-DatabaseFolders $Databases) {
                Invoke-Rollback -Strategy Database -Tool Django -Path (Join-Path $runbookRoot $db) -App orders -Target 0001_initial -StateDirectory $state -Confirm:$false
            }
        ).Outcome
        $healthy = (Test-RollbackHealth -SmokeTest (Join-Path $runbookRoot 'smoke.sh')).Healthy
        $runbook = $sw.Elapsed.TotalMilliseconds
        if (@($outcomes | Where-Object { $_ -ne 'Succeeded' }).Count -gt 0 -or -not $healthy) { throw "The runbook did not roll back all $count components: $outcomes" }
        if ($i -eq 0) { continue }    # warm-up
        $planMs.Add($plan); $runbookMs.Add($runbook); $componentMs.Add($beforeChange)
    }

    $result = [pscustomobject]@{ Count = $count; Runs = $planMs.Count; Plan = Get-Median $planMs; Runbook = Get-Median $runbookMs; BeforeChange = Get-Median $componentMs }
    Write-Host ("Plans ({0} components): plan {1} ms, runbook {2} ms, ratio {3:0.00}; before the first change {4} ms" -f $count, (Format-Ms $result.Plan), (Format-Ms $result.Runbook), ($result.Plan / $result.Runbook), (Format-Ms $result.BeforeChange))
    $result
}

try {
    $one = Measure-Scenario 1
    $two = Measure-Scenario 2
    function Row([string] $what, $m) {
        $ratio = $m.Plan / $m.Runbook
        "| $what | $(Format-Ms $m.Plan) ms | $(Format-Ms $m.Runbook) ms | **$($ratio.ToString('0.00', $invariant))** | <= 0.8 | $(if ($ratio -le 0.8) { 'yes' } else { 'no' }) | $(Format-Ms ($m.Plan - $m.Runbook)) ms | $(Format-Ms $m.BeforeChange) ms |"
    }
    @(
        '## Release plans'
        ''
        "A service of a FeatureManagement flag file, a config file, a Git checkout and one or two Django apps on SQLite, deployed again before every run (flag on, new config, v2.4.0 checked out, migration 0002 applied; not timed) and rolled back to its recorded release v2.3.0: by ``Invoke-Rollback -Plan`` (assessment and preflight of every component in parallel, then the waves, then the service's smoke test), against the runbook an admin writes without plans (the same ``Invoke-Rollback`` calls in sequence, then ``Test-RollbackHealth -SmokeTest``). Medians of $($one.Runs) alternating runs in one warm process. The plan layer's own cost is the plan's time minus the runbook's (the same rollbacks either way); before the first change is the time from the call to the plan's attempt starting: reading the plan, the locks, the assessment and preflight of every component, consent."
        ''
        '| Service | Plan | Runbook | Ratio | Goal | Met | Plan layer (plan - runbook) | Before the first change |'
        '|---|---:|---:|---:|---|---|---:|---:|'
        (Row 'flag, config, code, one database (4 components, one per stage)' $one)
        (Row 'flag, config, code, two databases (5 components; the databases share a wave)' $two)
        ''
        "Where each component is alone in its stage, the plan is as fast as the runbook, not faster: the preflight before the first change is almost all the database's own planning (Django started to read the state, list the migrations and plan the downgrade), which the runbook's ``Invoke-Rollback`` also does before it changes anything, and nothing else is slow enough for the parallel assessment to save time. The plan saves time where slow work can overlap: two databases are preflighted together and go back in one wave. The goal is met there, not for a service with one slow component; fewer migration-tool starts per database rollback would shorten both sides alike."
        ''
        'Reproduce: `dotnet pwsh build.ps1 Bench -Only Plans` (this section only).'
    )
}
finally {
    Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
}
