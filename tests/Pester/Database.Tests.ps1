BeforeDiscovery {
    # Debian's Django, seen by /usr/bin/python3; without it these tests skip, except in CI, where they must fail.
    $djangoInstalled = (Test-Path /usr/bin/python3) -and $null -ne (& /usr/bin/python3 -c 'import django; print(1)' 2>$null)
    $skipDjango = -not $djangoInstalled -and $env:DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION -ne '1'
    # The EF Core fixture needs dotnet (the SDK builds it, dotnet-ef comes from its tool manifest).
    $skipEfCore = $null -eq (Get-Command dotnet -ErrorAction SilentlyContinue) -and $env:DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION -ne '1'
    # Alembic from PATH, as the module finds it.
    $skipAlembic = $null -eq (Get-Command alembic -ErrorAction SilentlyContinue) -and $env:DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION -ne '1'
    # Debian's Rails, under /usr/bin/ruby.
    $railsInstalled = (Test-Path /usr/bin/ruby) -and '1' -eq (& /usr/bin/ruby -e 'require "rails"; print 1' 2>$null)
    $skipRails = -not $railsInstalled -and $env:DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION -ne '1'
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-TestModulePath) -Force

    # A rollback killed (kill -9 of the module's process alone) once its reverse step has written 'started' in the
    # project folder; the step then sleeps 3 s and writes 'finished'. Its one helper, whose requests came through a
    # pipe that is now closed, finishes the step and ends; a rerun with -Rerun is Skipped and records the killed
    # attempt Interrupted. The tool's own view of the migration is the caller's to check.
    function Assert-KilledMidMigration {
        param([string] $Script, [string] $Project, [string] $HelperName, [hashtable] $Rerun, [string] $ToVersion)
        $helper = @(Stop-ChildPwshWhen -Script $Script -Until { Test-Path (Join-Path $Project 'started') })
        $helper | Should -HaveCount 1
        $helper[0].ProcessName | Should -BeLike $HelperName
        Test-Path (Join-Path $Project 'finished') | Should -BeFalse -Because 'the reverse step was still running when the module was killed'
        $helper[0].WaitForExit(30000) | Should -BeTrue
        Test-Path (Join-Path $Project 'finished') | Should -BeTrue

        $result = Invoke-Rollback @Rerun -Confirm:$false -WarningVariable warnings -WarningAction SilentlyContinue
        $result.Outcome | Should -Be 'Skipped'
        "$warnings" | Should -Match 'was interrupted during Downgrade'
        $history = Get-RollbackHistory -TargetKey $result.TargetKey -StateDirectory $Rerun.StateDirectory
        ($history | Where-Object Outcome -EQ 'Interrupted').ToVersion | Should -Be $ToVersion
    }
}

Describe 'Database migrations rolled back with the real Django' -Skip:$skipDjango {
    BeforeEach {
        $project = Join-Path $TestDrive ([Guid]::NewGuid().ToString('N').Substring(0, 8))
        Copy-Item (Join-Path $PSScriptRoot '../Fixtures/django-app') $project -Recurse
        $state = Join-Path $project '.state'
        function Invoke-Manage { Push-Location $project; try { & /usr/bin/python3 manage.py @args 2>&1 } finally { Pop-Location } }
        $null = Invoke-Manage migrate orders 0002
        $target = @{ Strategy = 'Database'; Tool = 'Django'; Path = $project; App = 'orders'; StateDirectory = $state }
    }

    It 'shows the migrations it would unapply under -WhatIf, then rolls back' {
        $child = Invoke-ChildPwsh -Script "Import-Module '$(Get-TestModulePath)'; Invoke-Rollback -Strategy Database -Tool Django -Path '$project' -App orders -Target zero -StateDirectory '$state' -WhatIf"
        $child.Output | Should -Match 'What if: .*0002_add_note, 0001_initial'
        (Invoke-Manage showmigrations orders) -join ' ' | Should -Match '\[X\] 0002_add_note'

        $result = Invoke-Rollback @target -Target 0001 -Confirm:$false
        $result.Outcome | Should -Be 'Succeeded'
        (Invoke-Manage showmigrations orders) -join ' ' | Should -Match '\[ \] 0002_add_note'
        (Get-RollbackCheckpoint -StateDirectory $state).Artefacts | Should -Contain 'database.sqlite3'
    }

    It 'escalates an irreversible migration before running anything' {
        $null = Invoke-Manage migrate orders
        $result = Invoke-Rollback @target -Target 0001 -Confirm:$false -WarningAction SilentlyContinue
        $result.Outcome | Should -Be 'Escalated'
        (Get-RollbackSignal -Name MANUAL_INTERVENTION_REQUIRED -StateDirectory $state) | Should -HaveCount 1
        (Invoke-Manage showmigrations orders) -join ' ' | Should -Match '\[X\] 0003_backfill'
    }

    It 'killed mid-migration, leaves a helper that finishes the command in hand and ends; the rerun takes over from the interrupted attempt' {
        # A reverse step that takes 3 s and marks its start and its end in the project folder.
        Set-Content (Join-Path $project 'orders/migrations/0003_backfill.py') @"
import pathlib, time
from django.db import migrations
folder = pathlib.Path(__file__).resolve().parents[2]
def forwards(apps, schema_editor):
    pass
def backwards(apps, schema_editor):
    (folder / 'started').write_text('')
    time.sleep(3)
    (folder / 'finished').write_text('')
class Migration(migrations.Migration):
    dependencies = [('orders', '0002_add_note')]
    operations = [migrations.RunPython(forwards, backwards)]
"@
        $null = Invoke-Manage migrate orders
        Assert-KilledMidMigration -Project $project -HelperName 'python3*' -Rerun ($target + @{ Target = '0002' }) -ToVersion '0002_add_note' `
            -Script "Import-Module '$(Get-TestModulePath)'; Invoke-Rollback -Strategy Database -Tool Django -Path '$project' -App orders -Target 0002 -StateDirectory '$state' -Confirm:`$false"
        (Invoke-Manage showmigrations orders) -join ' ' | Should -Match '\[ \] 0003_backfill'
    }

    It 'names the known migrations for an unknown one' {
        { Invoke-Rollback @target -Target '0002; rm -rf /' -Confirm:$false } |
            Should -Throw -ErrorId 'DatabaseMigrationUnknown,DeploymentRollback.Commands.InvokeRollbackCommand' -ExpectedMessage '*0001_initial*'
    }
}

Describe 'EF Core rolled back through the built module, its commands in the module''s helper process' -Skip:$skipEfCore {
    BeforeAll {
        $project = Join-Path $TestDrive 'efcore-app'
        Copy-Item (Join-Path $PSScriptRoot '../Fixtures/efcore-app') $project -Recurse
        Push-Location $project
        try {
            $restore = dotnet tool restore 2>&1
            if ($LASTEXITCODE) { throw "dotnet tool restore failed: $restore" }
            $build = dotnet build --nologo -v q 2>&1
            if ($LASTEXITCODE) { throw "dotnet build failed: $build" }
        }
        finally { Pop-Location }
        $app = (Get-ChildItem (Join-Path $project 'bin/Debug') -Recurse -Filter EfCoreApp.dll | Select-Object -First 1).FullName
        # The app's own migrate command sets the database's state without a dotnet ef start.
        function Set-Migration([string] $migration) {
            Push-Location $project
            try { $out = dotnet $app migrate $migration 2>&1; if ($LASTEXITCODE) { throw "migrate $migration failed: $out" } } finally { Pop-Location }
        }
        function Get-History { @(& /usr/bin/python3 -c "import sqlite3,sys; print('\n'.join(r[0] for r in sqlite3.connect(sys.argv[1]).execute('SELECT MigrationId FROM __EFMigrationsHistory ORDER BY 1')))" (Join-Path $project 'app.db')) }
        # A dotnet that logs what it is started for: 'ef' (dotnet ef), 'exec' (ef.dll itself) or 'helper' (the module's helper).
        $log = Join-Path $TestDrive 'dotnet-calls.log'
        $counted = Join-Path $TestDrive 'counted-dotnet'
        Set-Content $counted "#!/bin/sh`ncase `"`$*`" in *DeploymentRollback.EfCoreHelper.dll*) echo helper >> '$log';; *) echo `"`$1`" >> '$log';; esac`nexec dotnet `"`$@`"`n"
        chmod +x $counted
        $state = Join-Path $project '.state'
        $script = "Import-Module '$(Get-TestModulePath)'; (Invoke-Rollback -Strategy Database -Tool EfCore -Path '$project' -Target InitialCreate -ToolPath '$counted' -StateDirectory '$state' -Confirm:`$false).Outcome"
    }

    It 'learns ef.dll from one dotnet ef start, runs the rest in the helper the module ships, and only the helper the next time' {
        Set-Migration 20240102000000_AddNote
        $run = Invoke-ChildPwsh -Script $script
        $run.Output.Trim() | Should -Be 'Succeeded' -Because $run.Error
        Get-History | Should -Be @('20240101000000_InitialCreate')
        Get-Content $log | Should -Be @('ef', 'helper')
        Remove-Item $log

        Set-Migration 20240102000000_AddNote
        $run = Invoke-ChildPwsh -Script $script
        $run.Output.Trim() | Should -Be 'Succeeded' -Because $run.Error
        Get-History | Should -Be @('20240101000000_InitialCreate')
        Get-Content $log | Should -Be @('helper')
        Test-Path (Join-Path (Split-Path (Get-TestModulePath)) 'Dependencies/DeploymentRollback.EfCoreHelper.dll') | Should -BeTrue
    }

    It 'killed while the helper runs the reverse migration, leaves a helper that finishes it and ends; the rerun takes over from the interrupted attempt' {
        Set-Migration 20240102000000_AddNote
        # The fixture's AddNote.Down, with EFCOREAPP_SLOW_DOWN set (SQLite), writes and drops some seconds' worth of
        # rows and leaves a file each time EF asks it for its operations: once for the plan's script, once for the update.
        $marks = Join-Path $TestDrive 'down-marks'
        $null = New-Item -ItemType Directory $marks -Force
        # kill -9 of the module's process alone once the update runs: the helper reads its requests from a pipe that is
        # now closed.
        $helper = @(Stop-ChildPwshWhen -Script $script -Environment @{ EFCOREAPP_SLOW_DOWN = $marks } -Until { @(Get-ChildItem $marks).Count -ge 2 })
        @($helper | Where-Object CommandLine -Match 'EfCoreHelper') | Should -HaveCount 1
        Get-History | Should -Contain '20240102000000_AddNote' -Because 'the update is still running'
        foreach ($process in $helper) { $process.WaitForExit(30000) | Should -BeTrue }
        Get-History | Should -Be @('20240101000000_InitialCreate')

        $rerun = Invoke-Rollback -Strategy Database -Tool EfCore -Path $project -Target InitialCreate -ToolPath $counted -StateDirectory $state -Confirm:$false -WarningVariable warnings -WarningAction SilentlyContinue
        $rerun.Outcome | Should -Be 'Skipped'
        "$warnings" | Should -Match 'was interrupted during Downgrade'
        $history = Get-RollbackHistory -TargetKey $rerun.TargetKey -StateDirectory $state
        ($history | Where-Object Outcome -EQ 'Interrupted').ToVersion | Should -Be '20240101000000_InitialCreate'
    }
}

Describe 'Alembic rolled back through the built module, its commands in the module''s helper' -Skip:$skipAlembic {
    BeforeEach {
        $project = Join-Path $TestDrive ([Guid]::NewGuid().ToString('N').Substring(0, 8))
        Copy-Item (Join-Path $PSScriptRoot '../Fixtures/alembic-app') $project -Recurse
        $state = Join-Path $project '.state'
        function Invoke-Alembic { Push-Location $project; try { $out = & alembic @args 2>&1; if ($LASTEXITCODE) { throw "alembic $args failed: $out" }; $out } finally { Pop-Location } }
    }

    It 'killed mid-migration, leaves a helper that finishes the command in hand and ends; the rerun takes over from the interrupted attempt' {
        # The fixture's 0003 with a reverse step that takes 3 s when it runs against the database (not while the plan
        # renders its SQL) and marks its start and its end in the project folder.
        $file = Join-Path $project 'migrations/versions/0003_backfill_notes.py'
        Set-Content $file ((Get-Content -Raw $file) -replace '(?s)def downgrade\(\) -> None:.*$', @'
def downgrade() -> None:
    op.execute("UPDATE orders SET note = NULL WHERE note = 'legacy order'")
    if not op.get_context().as_sql:
        import pathlib, time
        folder = pathlib.Path(__file__).resolve().parents[2]
        (folder / 'started').write_text('')
        time.sleep(3)
        (folder / 'finished').write_text('')
'@)
        $null = Invoke-Alembic upgrade head
        Assert-KilledMidMigration -Project $project -HelperName 'python3*' -ToVersion '0002' `
            -Rerun @{ Strategy = 'Database'; Tool = 'Alembic'; Path = $project; Target = '0002'; StateDirectory = $state } `
            -Script "Import-Module '$(Get-TestModulePath)'; Invoke-Rollback -Strategy Database -Tool Alembic -Path '$project' -Target 0002 -StateDirectory '$state' -Confirm:`$false"
        (Invoke-Alembic current) -join "`n" | Should -Match '(?m)^0002\b'
    }
}

Describe 'Rails rolled back through the built module, its commands in the module''s helper' -Skip:$skipRails {
    BeforeEach {
        $project = Join-Path $TestDrive ([Guid]::NewGuid().ToString('N').Substring(0, 8))
        Copy-Item (Join-Path $PSScriptRoot '../Fixtures/rails-app') $project -Recurse
        # The repository ignores bin/, so a clone may lack the fixture's bin/rails: it is the standard one.
        $binRails = Join-Path $project 'bin/rails'
        if (-not (Test-Path $binRails)) {
            $null = New-Item -ItemType Directory (Split-Path $binRails) -Force
            Set-Content $binRails "#!/usr/bin/env ruby`nAPP_PATH = File.expand_path('../config/application', __dir__)`nrequire_relative `"../config/boot`"`nrequire `"rails/commands`"`n"
        }
        $state = Join-Path $project '.state'
        function Invoke-Rails { Push-Location $project; try { $out = & /usr/bin/ruby bin/rails @args 2>&1; if ($LASTEXITCODE) { throw "rails $args failed: $out" }; $out } finally { Pop-Location } }
    }

    It 'killed mid-migration, leaves a helper that finishes the command in hand and ends; the rerun takes over from the interrupted attempt' {
        # A reverse step that takes 3 s and marks its start and its end in the project folder.
        Set-Content (Join-Path $project 'db/migrate/20240103000000_backfill_notes.rb') @'
class BackfillNotes < ActiveRecord::Migration[6.1]
  def up
  end

  def down
    folder = File.expand_path('../..', __dir__)
    File.write(File.join(folder, 'started'), '')
    sleep 3
    File.write(File.join(folder, 'finished'), '')
  end
end
'@
        $null = Invoke-Rails db:migrate
        Assert-KilledMidMigration -Project $project -HelperName 'ruby*' -ToVersion '20240102000000' `
            -Rerun @{ Strategy = 'Database'; Tool = 'Rails'; Path = $project; Target = '20240102000000'; StateDirectory = $state } `
            -Script "Import-Module '$(Get-TestModulePath)'; Invoke-Rollback -Strategy Database -Tool Rails -Path '$project' -Target 20240102000000 -StateDirectory '$state' -Confirm:`$false"
        (Invoke-Rails db:migrate:status) -join "`n" | Should -Match '(?m)^\s*down\s+20240103000000'
    }
}
