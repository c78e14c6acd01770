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

Describe 'Two jobs in one process (Azure Automation runs several in one sandbox)' {
    It 'keep their state apart: a target escalated in one job''s state directory is not escalated in the other''s' {
        $repo = New-TestRepository (Join-Path $TestDrive 'jobs/repo')
        $stateA = Join-Path $TestDrive 'jobs/state-a'
        $stateB = Join-Path $TestDrive 'jobs/state-b'
        $down = "http://127.0.0.1:$(Get-FreePort)/health"
        $server = Start-TestHttpServer -Status 200
        $jobs = @()
        try {
            # Two runspaces of this process, both open while the other works.
            $jobs = 'A', 'B' | ForEach-Object { New-TestJob $modulePath }
            $failThrice = {
                param($repo, $state, $uri)
                foreach ($i in 1..3) { (Invoke-Rollback Git v2.3.0 -Path $repo -StateDirectory $state -HealthCheckUri $uri -HealthCheckRetries 0 -Confirm:$false).Outcome }
            }
            $outcomesA = Invoke-TestJob $jobs[0] $failThrice @($repo, $stateA, $down)
            $refusedA = Invoke-TestJob $jobs[0] { param($repo, $state) try { Invoke-Rollback Git v2.3.0 -Path $repo -StateDirectory $state -Confirm:$false -ErrorAction Stop; 'not refused' } catch { $_.FullyQualifiedErrorId } } @($repo, $stateA)
            # A's failed verifications left the checkout where they went; deploy the bad release again for B.
            Invoke-TestGit $repo checkout --quiet v2.3.1 | Out-Null
            $outcomeB = Invoke-TestJob $jobs[1] { param($repo, $state, $uri) (Invoke-Rollback Git v2.3.0 -Path $repo -StateDirectory $state -HealthCheckUri $uri -Confirm:$false).Outcome } @($repo, $stateB, $server.Uri)
            $historyB = Invoke-TestJob $jobs[1] { param($state) @(Get-RollbackHistory -StateDirectory $state).Count } @($stateB)

            @($outcomesA | ForEach-Object ToString) | Should -Be @('Failed', 'Failed', 'Escalated')
            "$refusedA" | Should -Match '^RollbackEscalated,'
            "$($outcomeB[0])" | Should -Be 'Succeeded'
            $historyB[0] | Should -Be 1
            foreach ($job in $jobs) { $job.Streams.Error | ForEach-Object { "$_" } | Should -Not -Match 'RollbackEscalated|locked' }
        }
        finally {
            $jobs | ForEach-Object { $_.Dispose() }
            Stop-TestHttpServer $server
        }
    }
}
