BeforeDiscovery {
    # Debian's Django, seen by /usr/bin/python3; without it these tests skip, except in CI, where they must fail.
    $djangoInstalled = (Test-Path /usr/bin/python3) -and $null -ne (& /usr/bin/python3 -c 'import django; print(1)' 2>$null)
    $skipDjango = -not $djangoInstalled -and $env:DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION -ne '1'
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-TestModulePath) -Force
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

    It 'names the known migrations for an unknown one' {
        { Invoke-Rollback @target -Target '0002; rm -rf /' -Confirm:$false } |
            Should -Throw -ErrorId 'DatabaseMigrationUnknown,DeploymentRollback.Commands.InvokeRollbackCommand' -ExpectedMessage '*0001_initial*'
    }
}
