<#
.SYNOPSIS
    Database figure for docs/BENCHMARKS.md: the overhead of Invoke-Rollback -Strategy Database over running the
    migration tool directly for the same rollback, per tool, as a ratio (Django, Alembic, EF Core and Rails on SQLite). Returns markdown lines.
    Expects the module imported by the caller.
#>
param([ValidateRange(1, 20)] [int] $Runs = 5)

$ErrorActionPreference = 'Stop'
$invariant = [Globalization.CultureInfo]::InvariantCulture
$djangoInstalled = (Test-Path /usr/bin/python3) -and $null -ne (& /usr/bin/python3 -c 'import django; print(1)' 2>$null)
if (-not $djangoInstalled) {
    return @('', '## Database migrations', '', 'Not measured: Django is not installed (apt-get install python3-django).')
}

function Get-Median([double[]] $values) { $s = [double[]]($values | Sort-Object); $m = [Math]::Floor($s.Count / 2); if ($s.Count % 2) { $s[$m] } else { ($s[$m - 1] + $s[$m]) / 2 } }
$work = Join-Path ([IO.Path]::GetTempPath()) "dr-bench-db-$PID"
$state = Join-Path $work 'state'
Copy-Item (Join-Path $PSScriptRoot '../tests/Fixtures/django-app') $work -Recurse
function Invoke-Manage { Push-Location $work; try { & /usr/bin/python3 manage.py @args 2>&1 | Out-Null; if ($LASTEXITCODE) { throw "manage.py $args failed" } } finally { Pop-Location } }
try {
    $ours = [Collections.Generic.List[double]]::new()
    $direct = [Collections.Generic.List[double]]::new()
    for ($i = 0; $i -lt $Runs; $i++) {
        Invoke-Manage migrate orders 0002
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $result = Invoke-Rollback -Strategy Database -Tool Django -Path $work -App orders -Target 0001 -StateDirectory $state -Confirm:$false
        $ours.Add($watch.Elapsed.TotalMilliseconds)
        if ($result.Outcome -ne 'Succeeded') { throw "Database rollback $($result.Outcome): $($result.Message)" }

        Invoke-Manage migrate orders 0002
        $watch.Restart()
        Invoke-Manage migrate orders 0001
        $direct.Add($watch.Elapsed.TotalMilliseconds)
    }
    $o = Get-Median $ours
    $d = Get-Median $direct
    $alembicRow = $null
    if (Get-Command alembic -ErrorAction SilentlyContinue) {
        $alembicWork = Join-Path $work 'alembic-app'
        Copy-Item (Join-Path $PSScriptRoot '../tests/Fixtures/alembic-app') $alembicWork -Recurse
        function Invoke-Alembic { Push-Location $alembicWork; try { & alembic @args 2>&1 | Out-Null; if ($LASTEXITCODE) { throw "alembic $args failed" } } finally { Pop-Location } }
        $oursAlembic = [Collections.Generic.List[double]]::new()
        $directAlembic = [Collections.Generic.List[double]]::new()
        for ($i = 0; $i -lt $Runs; $i++) {
            Invoke-Alembic upgrade 0002
            $watch = [Diagnostics.Stopwatch]::StartNew()
            $result = Invoke-Rollback -Strategy Database -Tool Alembic -Path $alembicWork -Target 0001 -StateDirectory $state -Confirm:$false
            $oursAlembic.Add($watch.Elapsed.TotalMilliseconds)
            if ($result.Outcome -ne 'Succeeded') { throw "Alembic rollback $($result.Outcome): $($result.Message)" }
            Invoke-Alembic upgrade 0002
            $watch.Restart()
            Invoke-Alembic downgrade 0001
            $directAlembic.Add($watch.Elapsed.TotalMilliseconds)
        }
        $oa = Get-Median $oursAlembic
        $da = Get-Median $directAlembic
        $alembicRow = "| Alembic: ``downgrade 0001`` from 0002 | $(($oa / 1000).ToString('0.00', $invariant)) s | $(($da / 1000).ToString('0.00', $invariant)) s | **$(($oa / $da).ToString('0.00', $invariant))** |"
    }
    $efRow = $null
    $efWork = Join-Path $work 'efcore-app'
    Copy-Item (Join-Path $PSScriptRoot '../tests/Fixtures/efcore-app') $efWork -Recurse
    Push-Location $efWork
    try {
        & dotnet tool restore 2>&1 | Out-Null
        if ($LASTEXITCODE -eq 0) { & dotnet build -v q 2>&1 | Out-Null }
        $efReady = $LASTEXITCODE -eq 0
    }
    finally { Pop-Location }
    if ($efReady) {
        function Invoke-Ef { Push-Location $efWork; try { & dotnet ef @args --no-build 2>&1 | Out-Null; if ($LASTEXITCODE) { throw "dotnet ef $args failed" } } finally { Pop-Location } }
        $oursEf = [Collections.Generic.List[double]]::new()
        $directEf = [Collections.Generic.List[double]]::new()
        for ($i = 0; $i -lt [Math]::Min($Runs, 3); $i++) {
            Invoke-Ef database update AddNote
            $watch = [Diagnostics.Stopwatch]::StartNew()
            $result = Invoke-Rollback -Strategy Database -Tool EfCore -Path $efWork -Target InitialCreate -StateDirectory $state -Confirm:$false
            $oursEf.Add($watch.Elapsed.TotalMilliseconds)
            if ($result.Outcome -ne 'Succeeded') { throw "EF Core rollback $($result.Outcome): $($result.Message)" }
            Invoke-Ef database update AddNote
            $watch.Restart()
            Invoke-Ef database update InitialCreate
            $directEf.Add($watch.Elapsed.TotalMilliseconds)
        }
        $oe = Get-Median $oursEf
        $de = Get-Median $directEf
        $efRow = "| EF Core: ``dotnet ef database update InitialCreate --no-build`` from AddNote | $(($oe / 1000).ToString('0.00', $invariant)) s | $(($de / 1000).ToString('0.00', $invariant)) s | **$(($oe / $de).ToString('0.00', $invariant))** |"
    }
    $railsRow = $null
    if (Test-Path /usr/bin/rails) {
        $railsWork = Join-Path $work 'rails-app'
        Copy-Item (Join-Path $PSScriptRoot '../tests/Fixtures/rails-app') $railsWork -Recurse
        function Invoke-Rails { Push-Location $railsWork; try { & /usr/bin/ruby bin/rails @args 2>&1 | Out-Null; if ($LASTEXITCODE) { throw "rails $args failed" } } finally { Pop-Location } }
        $oursRails = [Collections.Generic.List[double]]::new()
        $directRails = [Collections.Generic.List[double]]::new()
        for ($i = 0; $i -lt [Math]::Min($Runs, 3); $i++) {
            Invoke-Rails db:migrate VERSION=20240102000000
            $watch = [Diagnostics.Stopwatch]::StartNew()
            $result = Invoke-Rollback -Strategy Database -Tool Rails -Path $railsWork -Target 20240101000000 -StateDirectory $state -Confirm:$false
            $oursRails.Add($watch.Elapsed.TotalMilliseconds)
            if ($result.Outcome -ne 'Succeeded') { throw "Rails rollback $($result.Outcome): $($result.Message)" }
            Invoke-Rails db:migrate VERSION=20240102000000
            $watch.Restart()
            Invoke-Rails db:migrate VERSION=20240101000000
            $directRails.Add($watch.Elapsed.TotalMilliseconds)
        }
        $or = Get-Median $oursRails
        $dr = Get-Median $directRails
        $railsRow = "| Rails: ``bin/rails db:migrate VERSION=20240101000000`` from the 2nd migration | $(($or / 1000).ToString('0.00', $invariant)) s | $(($dr / 1000).ToString('0.00', $invariant)) s | **$(($or / $dr).ToString('0.00', $invariant))** |"
    }
    @(
        ''
        '## Database migrations'
        ''
        "Django $((& /usr/bin/python3 -c 'import django; print(django.get_version())')), Alembic, EF Core and Rails on SQLite, the fixture projects ``tests/Fixtures/django-app``, ``alembic-app``, ``efcore-app`` and ``rails-app``; medians of $Runs alternating rounds, migrated back up between rounds."
        ''
        '| Tool | DeploymentRollback | The tool directly | Ratio ours/direct |'
        '|---|---:|---:|---:|'
        "| Django: ``migrate orders 0001`` from 0002 | $(($o / 1000).ToString('0.00', $invariant)) s | $(($d / 1000).ToString('0.00', $invariant)) s | **$(($o / $d).ToString('0.00', $invariant))** |"
        $alembicRow
        $efRow
        $railsRow
        ''
        'Rails: ours also runs `db:migrate:status` before and after and asks Rails for its SQLite file (`runner`); each Rails start costs about 1.5 s here.'
        'EF Core: ours also runs `migrations list --json` before and after, and `migrations script` to find Down methods that throw or are empty (each `dotnet ef` start costs about 3 s here).'
        'Alembic: ours also reads `history` and `current` and runs the downgrade offline (`--sql`) first to find irreversible revisions.'
        'Ours starts Django four more times around the same `migrate`: `showmigrations` and `migrate --plan` to plan (the plan is what -WhatIf shows and where irreversible migrations are caught), `shell` to find the SQLite file it copies into the checkpoint, and `showmigrations` afterwards to say which migrations ran; each Django start costs about half a second here.'
    )
}
finally { Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue }
