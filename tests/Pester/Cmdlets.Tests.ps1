Describe 'DeploymentRollback cmdlets' {
    BeforeAll {
        Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
        Import-Module (Get-TestModulePath) -Force
        $healthy = Start-TestHttpServer -Status 200
        $unhealthy = Start-TestHttpServer -Status 500 -Body '{"error":"Missing environment variable: API_KEY"}'
    }

    AfterAll {
        Stop-TestHttpServer $healthy
        Stop-TestHttpServer $unhealthy
    }

    BeforeEach {
        $work = Join-Path $TestDrive ([Guid]::NewGuid().ToString('N').Substring(0, 8))
        $repo = New-TestRepository (Join-Path $work 'repo')
        $state = Join-Path $work 'state'
        $env:DEPLOYMENT_ROLLBACK_HOME = $state
    }

    AfterEach {
        $env:DEPLOYMENT_ROLLBACK_HOME = $null
    }

    Describe 'Get-RollbackAssessment' {
        It 'reports the current and last good versions and the commits between' {
            $assessment = Get-RollbackAssessment -Strategy Git -Path $repo
            $assessment | Should -BeOfType DeploymentRollback.RollbackAssessment
            $assessment.CurrentVersion | Should -Be 'v2.3.1'
            $assessment.LastGoodVersion | Should -Be 'v2.3.0'
            $assessment.Changes | Should -HaveCount 1
            $assessment.RecommendedStrategy | Should -Be 'Git'
            $assessment.StateDirectory | Should -Be $state
        }

        It 'classifies a failing health check and keeps its error' {
            $assessment = Get-RollbackAssessment -Strategy Git -Path $repo -HealthCheckUri $unhealthy.Uri -HealthCheckRetries 0
            $assessment.FailureType | Should -Be 'HealthCheckFailed'
            $assessment.Errors -join ' ' | Should -Match 'status 500'
            $assessment.Health.Healthy | Should -BeFalse
        }

        It 'classifies a failing smoke test' {
            $assessment = Get-RollbackAssessment -Strategy Git -Path $repo -SmokeTest { $false }
            $assessment.FailureType | Should -Be 'SmokeTestFailed'
        }

        It 'takes the reason from a DEPLOYMENT_FAILED signal' {
            $target = (Get-RollbackAssessment -Strategy Git -Path $repo).TargetKey
            $null = Send-RollbackSignal DEPLOYMENT_FAILED -TargetKey $target -Reason 'Missing environment variable: API_KEY' -Data @{ failure_type = 'DeploymentNeverCompleted' }
            $assessment = Get-RollbackAssessment -Strategy Git -Path $repo
            $assessment.FailureReason | Should -Be 'Missing environment variable: API_KEY'
            $assessment.FailureType | Should -Be 'DeploymentNeverCompleted'
        }

        It 'uses the current folder when -Path is not given' {
            Push-Location $repo
            try { (Get-RollbackAssessment -Strategy Git).CurrentVersion | Should -Be 'v2.3.1' } finally { Pop-Location }
        }

        It 'fails with GitRepositoryNotFound outside a repository' {
            { Get-RollbackAssessment -Strategy Git -Path $TestDrive } | Should -Throw -ErrorId 'GitRepositoryNotFound,DeploymentRollback.Commands.GetRollbackAssessmentCommand'
        }

        It 'says what a strategy needs when it is missing' {
            { Get-RollbackAssessment -Strategy Kubernetes } | Should -Throw -ErrorId 'KubernetesNameMissing,DeploymentRollback.Commands.GetRollbackAssessmentCommand'
            { Get-RollbackAssessment -Strategy Container } | Should -Throw -ErrorId 'ContainerNameMissing,DeploymentRollback.Commands.GetRollbackAssessmentCommand'
        }

        It 'rejects a health check address that is not http' {
            { Get-RollbackAssessment -Strategy Git -Path $repo -HealthCheckUri 'ftp://x/health' } | Should -Throw -ErrorId 'HealthCheckUriInvalid,DeploymentRollback.Commands.GetRollbackAssessmentCommand'
        }
    }

    Describe 'New-RollbackCheckpoint and Get-RollbackCheckpoint' {
        It 'keeps the failed state with a manifest and redacted artefacts' {
            Set-Content (Join-Path $repo 'app.txt') 'api_key=abc123secret'
            $checkpoint = New-RollbackCheckpoint -Strategy Git -Path $repo -CheckpointName 'forensics-1'
            $checkpoint.Name | Should -Be 'forensics-1'
            $checkpoint.Version | Should -Be 'v2.3.1'
            Join-Path $checkpoint.Folder 'manifest.json' | Should -Exist
            Get-Content -Raw (Join-Path $checkpoint.Folder 'uncommitted.patch') | Should -Not -Match 'abc123secret'
            (Get-RollbackCheckpoint -Name 'forensics-*').Name | Should -Be 'forensics-1'
            Get-Content (Join-Path $repo 'app.txt') | Should -Be 'api_key=abc123secret'
        }

        It 'a listed checkpoint names its target when piped on' {
            $null = New-RollbackCheckpoint -Strategy Git -Path $repo -CheckpointName 'piped'
            $listed = Get-RollbackCheckpoint -Name 'piped'
            $listed.Deployment.Strategy | Should -Be 'Git'
            $listed.Deployment.Path | Should -Be $repo
            ($listed | Get-RollbackAssessment).CurrentVersion | Should -Be 'v2.3.1'
        }

        It 'never overwrites a checkpoint' {
            $null = New-RollbackCheckpoint -Strategy Git -Path $repo -CheckpointName 'cp'
            { New-RollbackCheckpoint -Strategy Git -Path $repo -CheckpointName 'cp' } | Should -Throw -ErrorId 'CheckpointExists,DeploymentRollback.Commands.NewRollbackCheckpointCommand'
        }

        It 'refuses a name that is not a plain folder name' {
            { New-RollbackCheckpoint -Strategy Git -Path $repo -CheckpointName '../escape' } | Should -Throw -ErrorId 'CheckpointNameInvalid,DeploymentRollback.Commands.NewRollbackCheckpointCommand'
        }

        It 'writes nothing under -WhatIf' {
            New-RollbackCheckpoint -Strategy Git -Path $repo -WhatIf | Should -BeNullOrEmpty
            Get-RollbackCheckpoint | Should -BeNullOrEmpty
        }

        It 'passes the assessment on with -PassThru' {
            $assessment = Get-RollbackAssessment -Strategy Git -Path $repo | New-RollbackCheckpoint -PassThru
            $assessment | Should -BeOfType DeploymentRollback.RollbackAssessment
            $assessment.Checkpoint.Name | Should -Match '^pre-rollback-\d+$'
        }

        It 'reports a missing checkpoint as a non-terminating error' {
            Get-RollbackCheckpoint -Name 'missing' -ErrorVariable problems -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $problems[0].FullyQualifiedErrorId | Should -Be 'CheckpointNotFound,DeploymentRollback.Commands.GetRollbackCheckpointCommand'
        }
    }

    Describe 'Invoke-Rollback' {
        It 'does the user''s own example from inside the repository: Invoke-Rollback -Strategy Git -Target v2.3.0' {
            Push-Location $repo
            try { $result = Invoke-Rollback -Strategy Git -Target v2.3.0 -Confirm:$false } finally { Pop-Location }
            $result | Should -BeOfType DeploymentRollback.RollbackResult
            $result.Outcome | Should -Be 'Succeeded'
            Get-TestHead $repo | Should -Be (Get-TestTagCommit $repo v2.3.0)
            Get-Content (Join-Path $repo 'app.txt') | Should -Be 'good'
            (Get-RollbackSignal).Name | Should -Be @('ROLLBACK_STARTED', 'ROLLBACK_COMPLETE')
            (Get-RollbackSignal -Name ROLLBACK_COMPLETE).Data['rolled_back_to'] | Should -Be 'v2.3.0'
        }

        It 'shows every step under -WhatIf and changes nothing' {
            $before = Get-TestHead $repo
            # What-if lines go straight to the host, so a child pwsh is the way to read them.
            $child = Invoke-ChildPwsh -Environment @{ DEPLOYMENT_ROLLBACK_HOME = $state } -Script "Import-Module '$(Get-TestModulePath)'; Invoke-Rollback -Strategy Git -Path '$repo' -Target v2.3.0 -WhatIf"
            $child.ExitCode | Should -Be 0
            $child.Output | Should -Match 'What if: .*Create checkpoint'
            $child.Output | Should -Match 'What if: .*Check out v2.3.0'
            Get-TestHead $repo | Should -Be $before
            Get-RollbackHistory | Should -BeNullOrEmpty
            Get-RollbackSignal | Should -BeNullOrEmpty
        }

        It 'creates no state folder under -WhatIf, and names the real one' {
            $fresh = Join-Path $TestDrive 'never-made'
            $child = Invoke-ChildPwsh -Script "Import-Module '$(Get-TestModulePath)'; Invoke-Rollback -Strategy Git -Path '$repo' -Target v2.3.0 -StateDirectory '$fresh' -WhatIf"
            $child.ExitCode | Should -Be 0
            $child.Output | Should -Match ([regex]::Escape("in $fresh"))
            Test-Path $fresh | Should -BeFalse
        }

        It 'refuses uncommitted work with GitWorkingTreeDirty and keeps it' {
            Set-Content (Join-Path $repo 'app.txt') 'unsaved work'
            { Invoke-Rollback -Strategy Git -Path $repo -Target v2.3.0 -Confirm:$false } | Should -Throw -ErrorId 'GitWorkingTreeDirty,DeploymentRollback.Commands.InvokeRollbackCommand'
            Get-Content (Join-Path $repo 'app.txt') | Should -Be 'unsaved work'
        }

        It 'warns when the newest verified-good commit is gone and names the version it takes instead' {
            Invoke-TestGit $repo checkout --quiet -b hotfix v2.3.0 | Out-Null
            Set-Content (Join-Path $repo 'app.txt') 'good + hotfix'
            Invoke-TestGit $repo commit --quiet -am 'Hotfix' | Out-Null
            $null = Test-RollbackHealth -Strategy Git -Path $repo -SmokeTest { $true } -RecordVerified
            $hotfix = (Get-RollbackHistory -Verified).Version
            Invoke-TestGit $repo checkout --quiet main | Out-Null
            # The hotfix branch is deleted and collected: the verified-good commit no longer exists.
            Invoke-TestGit $repo branch -D hotfix | Out-Null
            Invoke-TestGit $repo reflog expire --expire=now --all | Out-Null
            Invoke-TestGit $repo gc --prune=now --quiet | Out-Null

            $result = Invoke-Rollback -Strategy Git -Path $repo -Confirm:$false -WarningVariable warnings -WarningAction SilentlyContinue
            $result.Outcome | Should -Be 'Succeeded'
            $result.ToVersion | Should -Be 'v2.3.0'
            ($warnings -join "`n") | Should -Match "$([regex]::Escape($hotfix)).*can no longer be found.*v2\.3\.0"
        }

        It 'refuses a repository whose index is locked with GitIndexLocked, under -WhatIf too, and changes nothing' {
            # A checkout under a leftover index.lock changed the files but not the index; the rerun then took that half
            # rollback for the user's uncommitted work.
            $lock = Join-Path $repo '.git/index.lock'
            Set-Content $lock ''
            { Invoke-Rollback -Strategy Git -Path $repo -Target v2.3.0 -WhatIf } | Should -Throw -ErrorId 'GitIndexLocked,DeploymentRollback.Commands.InvokeRollbackCommand'
            { Invoke-Rollback -Strategy Git -Path $repo -Target v2.3.0 -Confirm:$false } |
                Should -Throw -ErrorId 'GitIndexLocked,DeploymentRollback.Commands.InvokeRollbackCommand' -ExpectedMessage '*index.lock*delete the file*'
            Get-Content (Join-Path $repo 'app.txt') | Should -Be 'bad'
            Get-TestHead $repo | Should -Be (Get-TestTagCommit $repo v2.3.1)
            Remove-Item $lock
            (Invoke-Rollback -Strategy Git -Path $repo -Target v2.3.0 -Confirm:$false).Outcome | Should -Be 'Succeeded'
            Get-Content (Join-Path $repo 'app.txt') | Should -Be 'good'
        }

        It 'stashes uncommitted work into the checkpoint with -Force' {
            Set-Content (Join-Path $repo 'app.txt') 'unsaved work'
            $result = Invoke-Rollback -Strategy Git -Path $repo -Target v2.3.0 -Force -Confirm:$false
            $result.Outcome | Should -Be 'Succeeded'
            $checkpoint = Get-RollbackCheckpoint -Name $result.CheckpointName
            Get-Content -Raw (Join-Path $checkpoint.Folder 'stash.txt') | Should -Match 'git stash apply [0-9a-f]{40}'
            (Invoke-TestGit $repo stash list) -join ' ' | Should -Match $result.CheckpointName
        }

        It 'names the nearest tags when the target does not exist' {
            { Invoke-Rollback -Strategy Git -Path $repo -Target v2.3.5 -Confirm:$false } | Should -Throw -ErrorId 'GitTargetNotFound,DeploymentRollback.Commands.InvokeRollbackCommand' -ExpectedMessage '*v2.3.0*'
        }

        It 'is Skipped when already at the target, and harmless when run again' {
            $first = Invoke-Rollback -Strategy Git -Path $repo -Target v2.3.0 -Confirm:$false
            $second = Invoke-Rollback -Strategy Git -Path $repo -Target v2.3.0 -Confirm:$false
            $first.Outcome | Should -Be 'Succeeded'
            $second.Outcome | Should -Be 'Skipped'
            Get-TestHead $repo | Should -Be (Get-TestTagCommit $repo v2.3.0)
        }

        It 'reverts with history kept in -Mode Revert' {
            $result = Invoke-Rollback -Strategy Git -Path $repo -Target v2.3.0 -Mode Revert -Confirm:$false
            $result.Outcome | Should -Be 'Succeeded'
            (Invoke-TestGit $repo log --oneline) | Should -HaveCount 4
            Get-Content (Join-Path $repo 'app.txt') | Should -Be 'good'
            (Invoke-TestGit $repo rev-parse --abbrev-ref HEAD) | Should -Be 'main'
        }

        It 'keeps a secret in a commit subject out of the changes, the ShouldProcess text, the journal and the result' {
            Set-Content (Join-Path $repo 'app.txt') 'worse'
            Invoke-TestGit $repo commit --quiet -am 'Hotfix token: s3cr3t-in-subject' | Out-Null
            $assessment = Get-RollbackAssessment -Strategy Git -Path $repo
            # With -Verbose, each step's ShouldProcess text (what -WhatIf shows) is written to the verbose stream.
            $result = Invoke-Rollback -Strategy Git -Path $repo -Target v2.3.0 -Mode Revert -Confirm:$false -Verbose 4>&1 | Out-String

            $assessment.Changes -join "`n" | Should -Match 'Hotfix token: \*\*\*REDACTED'
            $result | Should -Match 'reverts [0-9a-f]+ "Hotfix token: \*\*\*REDACTED'
            foreach ($text in @(($assessment | ConvertTo-Json -Depth 5), $result, (Get-RollbackHistory | ConvertTo-Json -Depth 6))) {
                $text | Should -Not -Match 's3cr3t-in-subject'
            }
            Get-Content (Join-Path $repo 'app.txt') | Should -Be 'good'
        }

        It 'restarts, health-checks and smoke-tests, and records the target verified-good' {
            $script:restarted = $false
            $result = Invoke-Rollback -Strategy Git -Path $repo -Target v2.3.0 -Confirm:$false -RestartScript { $script:restarted = $true } -HealthCheckUri $healthy.Uri -SmokeTest { (Get-Content (Join-Path $repo 'app.txt')) -eq 'good' }
            $script:restarted | Should -BeTrue
            $result.Outcome | Should -Be 'Succeeded'
            $result.Verification | Should -Be 'Passed'
            $result.Health.Checks[0].StatusCode | Should -Be 200
            (Get-RollbackHistory -Verified).Version | Should -Be 'v2.3.0'
        }

        It 'is Failed, not Succeeded, when verification fails' {
            $result = Invoke-Rollback -Strategy Git -Path $repo -Target v2.3.0 -Confirm:$false -HealthCheckUri $unhealthy.Uri -HealthCheckRetries 0 -WarningVariable warned -WarningAction SilentlyContinue
            $result.Outcome | Should -Be 'Failed'
            $result.Verification | Should -Be 'Failed'
            $warned | Should -Not -BeNullOrEmpty
            (Get-RollbackSignal).Name | Should -Contain 'ROLLBACK_FAILED'
        }

        It 'fails the restart step when the restart script throws' {
            $result = Invoke-Rollback -Strategy Git -Path $repo -Target v2.3.0 -Confirm:$false -RestartScript { throw 'service would not start' } -WarningAction SilentlyContinue
            $result.Outcome | Should -Be 'Failed'
            ($result.Steps | Where-Object Status -EQ Failed).Message | Should -Match 'service would not start'
        }

        It 'escalates on the third failure and then refuses with RollbackEscalated unless -Force' {
            $outcomes = foreach ($i in 1..3) {
                Invoke-TestGit $repo checkout --quiet v2.3.1 | Out-Null
                (Invoke-Rollback -Strategy Git -Path $repo -Target v2.3.0 -Confirm:$false -SmokeTest { $false } -WarningAction SilentlyContinue).Outcome
            }
            $outcomes | Should -Be @('Failed', 'Failed', 'Escalated')
            (Get-RollbackSignal -Name MANUAL_INTERVENTION_REQUIRED) | Should -HaveCount 1
            Invoke-TestGit $repo checkout --quiet v2.3.1 | Out-Null
            { Invoke-Rollback -Strategy Git -Path $repo -Target v2.3.0 -Confirm:$false } | Should -Throw -ErrorId 'RollbackEscalated,DeploymentRollback.Commands.InvokeRollbackCommand'
            (Invoke-Rollback -Strategy Git -Path $repo -Target v2.3.0 -Confirm:$false -Force).Outcome | Should -Be 'Succeeded'
        }

        It 'waits for another rollback of the same target, then fails with RollbackLockTimeout' {
            $holder = Start-ThreadJob -ArgumentList (Get-TestModulePath), $repo, $state -ScriptBlock {
                param($module, $repo, $state)
                Import-Module $module
                Invoke-Rollback -Strategy Git -Path $repo -Target v2.3.0 -StateDirectory $state -Confirm:$false -RestartScript { Start-Sleep -Seconds 4 }
            }
            try {
                $deadline = [DateTime]::UtcNow.AddSeconds(15)
                while (-not (Get-RollbackSignal -Name ROLLBACK_STARTED) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
                { Invoke-Rollback -Strategy Git -Path $repo -Target v2.2.0 -Confirm:$false -LockTimeoutSec 1 } | Should -Throw -ErrorId 'RollbackLockTimeout,DeploymentRollback.Commands.InvokeRollbackCommand'
            }
            finally { $null = $holder | Wait-Job -Timeout 30 | Receive-Job; Remove-Job $holder -Force }
            Get-TestHead $repo | Should -Be (Get-TestTagCommit $repo v2.3.0)
        }

        It 'stops cleanly on Ctrl+C and records the attempt as cancelled' {
            # The restart step is a real process that would run for 30 s; stopping the pipeline must kill it and record the attempt.
            $sleeper = Join-Path $work 'sleep.sh'
            Set-Content $sleeper "#!/bin/sh`nsleep 30"
            chmod +x $sleeper
            $shell = [powershell]::Create()
            $null = $shell.AddScript("Import-Module '$(Get-TestModulePath)'; Invoke-Rollback -Strategy Git -Path '$repo' -Target v2.3.0 -StateDirectory '$state' -Confirm:`$false -RestartScript '$sleeper'")
            $watch = [Diagnostics.Stopwatch]::StartNew()
            $running = $shell.BeginInvoke()
            $deadline = [DateTime]::UtcNow.AddSeconds(15)
            while (-not (Get-RollbackSignal -Name ROLLBACK_STARTED) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
            Start-Sleep -Milliseconds 500
            $shell.Stop()
            { $shell.EndInvoke($running) } | Should -Throw
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 20
            $shell.Dispose()
            $attempt = Get-RollbackHistory | Select-Object -First 1
            $attempt.Outcome | Should -Be 'Failed'
            $attempt.Message | Should -Match 'Cancelled'
        }
    }

    Describe 'Test-RollbackHealth' {
        It 'passes a healthy endpoint and records the current version verified-good on request' {
            $report = Test-RollbackHealth -Strategy Git -Uri $healthy.Uri -Path $repo -RecordVerified
            $report.Healthy | Should -BeTrue
            $report.RecordedVerifiedVersion | Should -Be 'v2.3.1'
            (Get-RollbackHistory -Verified).Version | Should -Be 'v2.3.1'
        }

        It 'reports an unhealthy endpoint and emits HEALTH_CHECK_FAILED on request' {
            $report = Test-RollbackHealth -Strategy Git -Uri $unhealthy.Uri -Path $repo -HealthCheckRetries 0 -SignalOnFailure
            $report.Healthy | Should -BeFalse
            $report.Checks[0].StatusCode | Should -Be 500
            (Get-RollbackSignal -Name HEALTH_CHECK_FAILED).Subject | Should -Be $report.TargetKey
            Get-RollbackHistory -Verified | Should -BeNullOrEmpty
        }

        It 'becomes the verification of a piped rollback' {
            $report = Invoke-Rollback -Strategy Git -Path $repo -Target v2.3.0 -Confirm:$false | Test-RollbackHealth -Uri $healthy.Uri
            $report.AttemptId | Should -Not -BeNullOrEmpty
            (Get-RollbackHistory -AttemptId $report.AttemptId).Verification | Should -Be 'Passed'
            (Get-RollbackHistory -Verified).Version | Should -Be 'v2.3.0'
        }

        It 'counts a failed verification of a piped rollback toward escalation' {
            foreach ($target in 'v2.3.0', 'v2.2.0', 'v2.3.0') {
                $null = Invoke-Rollback -Strategy Git -Path $repo -Target $target -Confirm:$false | Test-RollbackHealth -Uri $unhealthy.Uri -HealthCheckRetries 0
            }
            $outcomes = (Get-RollbackHistory).Outcome
            $outcomes | Should -Be @('Escalated', 'Failed', 'Failed')
            (Get-RollbackSignal -Name MANUAL_INTERVENTION_REQUIRED).Data['escalation'] | Should -Be '3 failed rollback attempts'
            { Invoke-Rollback -Strategy Git -Path $repo -Target v2.2.0 -Confirm:$false } | Should -Throw -ErrorId 'RollbackEscalated,DeploymentRollback.Commands.InvokeRollbackCommand'
        }

        It 'refuses to run with nothing to check' {
            { Test-RollbackHealth -Strategy Git -Path $repo } | Should -Throw -ErrorId 'HealthCheckUriInvalid,DeploymentRollback.Commands.TestRollbackHealthCommand'
        }
    }

    Describe 'Send-RollbackSignal and Get-RollbackSignal' {
        It 'writes a CloudEvents file with the payload' {
            $signal = Send-RollbackSignal ROLLBACK_COMPLETE @{ reason = 'Missing API_KEY'; rolled_back_to = 'v2.3.0'; password = 'hunter2' }
            $json = Get-Content -Raw $signal.FilePath | ConvertFrom-Json
            $json.specversion | Should -Be '1.0'
            $json.type | Should -BeLike '*ROLLBACK_COMPLETE'
            $json.data.rolled_back_to | Should -Be 'v2.3.0'
            Get-Content -Raw $signal.FilePath | Should -Not -Match 'hunter2'
        }

        It 'POSTs to a webhook when asked' {
            (Send-RollbackSignal DEPLOYMENT_FAILED -Reason 'boom' -WebhookUri $healthy.Uri).WebhookStatusCode | Should -Be 200
        }

        It 'reports a failing webhook by id, after writing the file' {
            { Send-RollbackSignal DEPLOYMENT_FAILED -WebhookUri $unhealthy.Uri } | Should -Throw -ErrorId 'SignalWebhookFailed,DeploymentRollback.Commands.SendRollbackSignalCommand'
            Get-RollbackSignal -Name DEPLOYMENT_FAILED | Should -HaveCount 1
        }

        It 'refuses a malformed name' {
            { Send-RollbackSignal 'not a signal' } | Should -Throw -ErrorId 'SignalNameInvalid,DeploymentRollback.Commands.SendRollbackSignalCommand'
        }

        It 'filters by name and keeps only the newest with -Last' {
            1..3 | ForEach-Object { $null = Send-RollbackSignal HEALTH_CHECK_FAILED -Data @{ n = $_ } }
            $null = Send-RollbackSignal ROLLBACK_STARTED
            Get-RollbackSignal -Name HEALTH_CHECK_FAILED | Should -HaveCount 3
            (Get-RollbackSignal -Name HEALTH_CHECK_FAILED -Last 1).Data['n'] | Should -Be 3
        }
    }

    Describe 'Get-RollbackHistory, New-RollbackIncidentReport and Get-RollbackChecklist' {
        It 'compose in the documented pipeline and write the report' {
            $reportPath = Join-Path $work 'incident.md'
            $report = Get-RollbackAssessment -Strategy Git -Path $repo |
                New-RollbackCheckpoint -PassThru |
                Invoke-Rollback -Confirm:$false |
                Test-RollbackHealth -Uri $healthy.Uri |
                New-RollbackIncidentReport -Path $reportPath
            $report | Should -BeOfType DeploymentRollback.IncidentReport
            $reportPath | Should -Exist
            ($reportPath -replace '\.md$', '.json') | Should -Exist
            Get-Content -Raw $reportPath | Should -Match 'Time to recovery'
            Get-RollbackCheckpoint | Should -HaveCount 1
            $attempt = Get-RollbackHistory
            $attempt.Outcome | Should -Be 'Succeeded'
            $attempt.Verification | Should -Be 'Passed'
            $checklist = $attempt | Get-RollbackChecklist
            ($checklist | Where-Object Item -EQ 'Incident documented').Done | Should -BeTrue
            ($checklist | Where-Object Item -EQ 'Health checks passing').Done | Should -BeTrue
            ($checklist | Where-Object Item -EQ 'Created checkpoint of failed state').Evidence | Should -Be $attempt.CheckpointName
        }

        It 'reports an unknown attempt with AttemptNotFound' {
            { New-RollbackIncidentReport -AttemptId 'nope' } | Should -Throw -ErrorId 'AttemptNotFound,DeploymentRollback.Commands.NewRollbackIncidentReportCommand'
            { Get-RollbackChecklist -AttemptId 'nope' } | Should -Throw -ErrorId 'AttemptNotFound,DeploymentRollback.Commands.GetRollbackChecklistCommand'
        }
    }
}
