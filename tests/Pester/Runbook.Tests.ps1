BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $modulePath = Get-TestModulePath
}

Describe 'An unattended runbook' {
    It 'runs the four phases end to end with $ErrorActionPreference = Stop and -Confirm:$false' {
        $repo = New-TestRepository (Join-Path $TestDrive 'runbook/repo')
        $state = Join-Path $TestDrive 'runbook/state'
        $server = Start-TestHttpServer -Status 200
        try {
            $child = Invoke-ChildPwsh -Environment @{ DEPLOYMENT_ROLLBACK_HOME = $state } -Script @"
`$ErrorActionPreference = 'Stop'
`$ProgressPreference = 'SilentlyContinue'
Import-Module '$modulePath'
`$assessment = Get-RollbackAssessment -Strategy Git -Path '$repo'
`$result = `$assessment | New-RollbackCheckpoint -PassThru | Invoke-Rollback -Confirm:`$false -HealthCheckUri '$($server.Uri)' -Reason 'runbook test'
`$report = `$result | New-RollbackIncidentReport
"outcome=`$(`$result.Outcome) to=`$(`$result.ToVersion) report=`$(Test-Path `$report.MarkdownPath)"
`$signals = (Get-RollbackSignal).Name -join ','
"signals=`$signals"
"@
            $child.Error | Should -BeNullOrEmpty
            $child.ExitCode | Should -Be 0
            $child.Output | Should -Match 'outcome=Succeeded to=v2.3.0 report=True'
            $child.Output | Should -Match 'signals=ROLLBACK_STARTED,ROLLBACK_COMPLETE'
        }
        finally { Stop-TestHttpServer $server }
    }

    It 'stops at the first terminating error when $ErrorActionPreference is Stop, and the error id is catchable' {
        $repo = New-TestRepository (Join-Path $TestDrive 'stop/repo')
        Set-Content (Join-Path $repo 'app.txt') 'uncommitted'
        $child = Invoke-ChildPwsh -Environment @{ DEPLOYMENT_ROLLBACK_HOME = (Join-Path $TestDrive 'stop/state') } -Script @"
`$ErrorActionPreference = 'Stop'
Import-Module '$modulePath'
try {
    Invoke-Rollback -Strategy Git -Path '$repo' -Target v2.3.0 -Confirm:`$false
    'not reached'
}
catch { "caught=`$(`$_.FullyQualifiedErrorId)" }
Invoke-Rollback -Strategy Git -Path '$repo' -Target v2.3.0 -Confirm:`$false
'after the uncaught error: not reached'
"@
        $child.Output | Should -Match 'caught=GitWorkingTreeDirty,DeploymentRollback.Commands.InvokeRollbackCommand'
        $child.Output | Should -Not -Match 'not reached'
        $child.ExitCode | Should -Not -Be 0
    }

    It 'without Stop, a terminating error ends only its statement (documented PowerShell behaviour)' {
        $repo = New-TestRepository (Join-Path $TestDrive 'continue/repo')
        Set-Content (Join-Path $repo 'app.txt') 'uncommitted'
        $child = Invoke-ChildPwsh -Environment @{ DEPLOYMENT_ROLLBACK_HOME = (Join-Path $TestDrive 'continue/state') } -Script @"
Import-Module '$modulePath'
Invoke-Rollback -Strategy Git -Path '$repo' -Target v2.3.0 -Confirm:`$false
'the next statement still runs'
"@
        $child.Output | Should -Match 'the next statement still runs'
        $child.Error | Should -Match 'has uncommitted'
    }
}
