<#
.SYNOPSIS
    Database figure for docs/BENCHMARKS.md: the overhead of Invoke-Rollback -Strategy Database over running the
    migration tool's own rollback command for the same rollback, per tool, as a ratio against the goal (at most 1.5)
    (Django, Alembic, EF Core and Rails on SQLite). Prints each tool's figures as it goes; returns markdown lines.
    Expects the module imported by the caller.
.PARAMETER Tool
    Measure these tools only (default: all four that are installed).
#>
param(
    [ValidateRange(1, 20)] [int] $Runs = 5,
    [ValidateSet('Django', 'Alembic', 'EfCore', 'Rails')] [string[]] $Tool = @('Django', 'Alembic', 'EfCore', 'Rails')
)

$ErrorActionPreference = 'Stop'
$invariant = [Globalization.CultureInfo]::InvariantCulture
$goal = 1.5
$djangoInstalled = (Test-Path /usr/bin/python3) -and $null -ne (& /usr/bin/python3 -c 'import django; print(1)' 2>$null)
if (-not $djangoInstalled) {
    return @('', '## Database migrations', '', 'Not measured: Django is not installed (apt-get install python3-django).')
}

Import-Module (Join-Path $PSScriptRoot 'BenchSupport.psm1')
function Format-Seconds([double] $ms) { ($ms / 1000).ToString('0.00', $invariant) + ' s' }

<#
    Rounds that each put the database back up (Up), time Invoke-Rollback (Ours), put it back up again and time the
    tool's own rollback command (Direct): both sides see the same machine noise. Returns the table row and prints it.
#>
function Measure-Rollback([string] $Label, [int] $Rounds, [scriptblock] $Up, [scriptblock] $Ours, [scriptblock] $Direct) {
    $oursMs = [Collections.Generic.List[double]]::new()
    $directMs = [Collections.Generic.List[double]]::new()
    for ($i = 0; $i -lt $Rounds; $i++) {
        & $Up
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $result = & $Ours
        $oursMs.Add($watch.Elapsed.TotalMilliseconds)
        if ($result.Outcome -ne 'Succeeded') { throw "$Label rollback $($result.Outcome): $($result.Message)" }
        & $Up
        $watch.Restart()
        & $Direct
        $directMs.Add($watch.Elapsed.TotalMilliseconds)
    }
    $o = Get-Median $oursMs
    $d = Get-Median $directMs
    $ratio = $o / $d
    $met = if ($ratio -le $goal) { 'met' } else { 'not met' }
    Write-Host ("{0}: ours {1}, the tool directly {2}, ratio {3} (goal <= {4}: {5})" -f $Label, (Format-Seconds $o), (Format-Seconds $d), $ratio.ToString('0.00', $invariant), $goal.ToString('0.0', $invariant), $met)
    "| $Label | $(Format-Seconds $o) | $(Format-Seconds $d) | **$($ratio.ToString('0.00', $invariant))** | $met |"
}

$work = Join-Path ([IO.Path]::GetTempPath()) "dr-bench-db-$PID"
$state = Join-Path $work 'state'
New-Item -ItemType Directory $work | Out-Null
try {
    $rows = [Collections.Generic.List[string]]::new()
    if ('Django' -in $Tool) {
        $djangoWork = Join-Path $work 'django-app'
        Copy-Item (Join-Path $PSScriptRoot '../tests/Fixtures/django-app') $djangoWork -Recurse
        function Invoke-Manage { Push-Location $djangoWork; try { & /usr/bin/python3 manage.py @args 2>&1 | Out-Null; if ($LASTEXITCODE) { throw "manage.py $args failed" } } finally { Pop-Location } }
        $rows.Add((Measure-Rollback 'Django: `manage.py migrate orders 0001` from 0002' $Runs { Invoke-Manage migrate orders 0002 } {
            Invoke-Rollback -Strategy Database -Tool Django -Path $djangoWork -App orders -Target 0001 -StateDirectory $state -Confirm:$false
        } { Invoke-Manage migrate orders 0001 }))
    }
    if ('Alembic' -in $Tool -and (Get-Command alembic -ErrorAction SilentlyContinue)) {
        $alembicWork = Join-Path $work 'alembic-app'
        Copy-Item (Join-Path $PSScriptRoot '../tests/Fixtures/alembic-app') $alembicWork -Recurse
        function Invoke-Alembic { Push-Location $alembicWork; try { & alembic @args 2>&1 | Out-Null; if ($LASTEXITCODE) { throw "alembic $args failed" } } finally { Pop-Location } }
        $rows.Add((Measure-Rollback 'Alembic: `alembic downgrade 0001` from 0002' $Runs { Invoke-Alembic upgrade 0002 } {
            Invoke-Rollback -Strategy Database -Tool Alembic -Path $alembicWork -Target 0001 -StateDirectory $state -Confirm:$false
        } { Invoke-Alembic downgrade 0001 }))
    }
    if ('EfCore' -in $Tool) {
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
            $efRollback = { Invoke-Rollback -Strategy Database -Tool EfCore -Path $efWork -Target InitialCreate -StateDirectory $state -Confirm:$false }
            $rows.Add((Measure-Rollback 'EF Core: `dotnet ef database update InitialCreate --no-build` from AddNote' ([Math]::Min($Runs, 3)) { Invoke-Ef database update AddNote } $efRollback { Invoke-Ef database update InitialCreate }))
            # The same when no command of the module has met the project on this machine yet: its ef.dll invocation is learnt from one dotnet ef start.
            $rows.Add((Measure-Rollback 'EF Core, the first command for the project on this machine (the kept ef.dll invocation deleted before each round)' ([Math]::Min($Runs, 3)) {
                Invoke-Ef database update AddNote
                Remove-Item (Join-Path $state 'cache/efcore-*.json') -ErrorAction SilentlyContinue
            } $efRollback { Invoke-Ef database update InitialCreate }))
        }
    }
    if ('Rails' -in $Tool -and (Test-Path /usr/bin/rails)) {
        $railsWork = Join-Path $work 'rails-app'
        Copy-Item (Join-Path $PSScriptRoot '../tests/Fixtures/rails-app') $railsWork -Recurse
        function Invoke-Rails { Push-Location $railsWork; try { & /usr/bin/ruby bin/rails @args 2>&1 | Out-Null; if ($LASTEXITCODE) { throw "rails $args failed" } } finally { Pop-Location } }
        $rows.Add((Measure-Rollback 'Rails: `bin/rails db:migrate VERSION=20240101000000` from the 2nd migration' ([Math]::Min($Runs, 3)) { Invoke-Rails db:migrate VERSION=20240102000000 } {
            Invoke-Rollback -Strategy Database -Tool Rails -Path $railsWork -Target 20240101000000 -StateDirectory $state -Confirm:$false
        } { Invoke-Rails db:migrate VERSION=20240101000000 }))
    }
    @(
        ''
        '## Database migrations'
        ''
        "Django $((& /usr/bin/python3 -c 'import django; print(django.get_version())')), Alembic, EF Core and Rails on SQLite, the fixture projects ``tests/Fixtures/django-app``, ``alembic-app``, ``efcore-app`` and ``rails-app``; medians of $Runs alternating rounds (3 for EF Core and Rails), migrated back up between rounds. The goal: a rollback takes at most $($goal.ToString('0.0', $invariant)) times the tool's own rollback command."
        ''
        "| Tool | DeploymentRollback | The tool directly | Ratio ours/direct | Goal (≤ $($goal.ToString('0.0', $invariant))) |"
        '|---|---:|---:|---:|---|'
        $rows
        ''
        'Django, Alembic and Rails: ours starts the tool once per rollback, a helper shipped inside the module (`django_helper.py`, `alembic_helper.py`, `rails_helper.rb` under `rails runner`) that sets the tool up once and runs, with the same argument lists as on the command line, the listing and plan (Django: `showmigrations`, `migrate --plan`; Alembic: `history --verbose`, `current`, the offline `downgrade --sql` that finds irreversible revisions; Rails: `db:migrate:status`, the migration files read for irreversible ones), the question where the SQLite file is (copied into the checkpoint), the downgrade itself, and the listing afterwards that says which migrations ran. The helper starts while the module takes its lock and opens its journal.'
        'EF Core: a `dotnet ef` call is an MSBuild evaluation of the project (about 2 s here) and then `dotnet exec … ef.dll <command>`, EF Core''s inner tool (about 0.8 s). Ours learns that `ef.dll` invocation once from `dotnet ef`''s verbose log, keeps it in the state folder (valid while the project file, `Directory.Build.*`, the tool manifest and the restore output are unchanged and every file it names exists) and then runs the list, the `migrations script` that finds Down methods that throw or are empty, and `database update` in one process: its own helper (`DeploymentRollback.EfCoreHelper.dll`), started the way `dotnet ef` starts `ef.dll` (the project''s deps file and runtime configuration), which loads `ef.dll` once and runs its `Main` for each command (the first about 0.7 s, each after it about 0.1 s). The list starts while the module takes its lock, and on SQLite the list after the downgrade is read from `__EFMigrationsHistory`. Any earlier command on the project (recording the verified-good state, an assessment) has learnt the invocation; the second EF Core row is the first ever command: the list through `dotnet ef`, then the script and the downgrade in the helper.'
    )
}
finally { Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue }
