BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-TestModulePath) -Force
    $endpoint = Start-TestHttpServer -Status 200 -Body '{}'
}

AfterAll { Stop-TestHttpServer $endpoint }

Describe 'Feature flag kill switch, configuration rollback and quick retry' {
    BeforeEach {
        $work = Join-Path $TestDrive ([Guid]::NewGuid().ToString('N').Substring(0, 8))
        New-Item -ItemType Directory $work | Out-Null
        $state = Join-Path $work 'state'
    }

    It 'turns a .NET feature flag off and restores it' {
        $settings = Join-Path $work 'appsettings.json'
        Set-Content $settings '{ "Logging": { "LogLevel": "Information" }, "FeatureManagement": { "NewCheckout": true } }'
        $off = Invoke-Rollback -Strategy FeatureFlag -Provider FeatureManagement -Flag NewCheckout -Path $settings -StateDirectory $state -Confirm:$false
        $off.Outcome | Should -Be 'Succeeded'
        (Get-Content -Raw $settings | ConvertFrom-Json).FeatureManagement.NewCheckout | Should -BeFalse
        (Get-Content -Raw $settings | ConvertFrom-Json).Logging.LogLevel | Should -Be 'Information'
        (Invoke-Rollback -Strategy FeatureFlag -Provider FeatureManagement -Flag NewCheckout -Path $settings -StateDirectory $state -Confirm:$false).Outcome | Should -Be 'Skipped'
        (Invoke-Rollback -Strategy FeatureFlag -Provider FeatureManagement -Flag NewCheckout -Path $settings -StateDirectory $state -Restore -Confirm:$false).Outcome | Should -Be 'Succeeded'
        (Get-Content -Raw $settings | ConvertFrom-Json).FeatureManagement.NewCheckout | Should -BeTrue
    }

    It 'sends the spec''s HTTP call with a token that never reaches output, files or signals' {
        $token = ConvertTo-SecureString 'pester-token-0123456789' -AsPlainText -Force
        $verbose = Invoke-Rollback -Strategy FeatureFlag -Provider Http -Flag new-checkout -Uri $endpoint.Uri -ApiToken $token -StateDirectory $state -Confirm:$false -Verbose 4>&1 | Out-String
        $result = Get-RollbackHistory -StateDirectory $state | Select-Object -First 1
        $result.Outcome | Should -Be 'Succeeded'
        $verbose | Should -Not -Match 'pester-token'
        Get-ChildItem -Recurse -File $state | Where-Object Extension -NE '.db' | Get-Content -Raw | Should -Not -Match 'pester-token'
    }

    It 'names what is missing for a provider' {
        { Invoke-Rollback -Strategy FeatureFlag -Provider Unleash -Flag x -Uri $endpoint.Uri -StateDirectory $state -Confirm:$false } |
            Should -Throw -ErrorId 'FlagParameterMissing,DeploymentRollback.Commands.InvokeRollbackCommand' -ExpectedMessage '*-Project*'
        { Get-RollbackAssessment -Strategy FeatureFlag -Flag x -StateDirectory $state } | Should -Throw -ErrorId 'FlagParameterMissing,DeploymentRollback.Commands.GetRollbackAssessmentCommand'
    }

    It 'shows the configuration diff under -WhatIf, then restores the previous copy' {
        $config = Join-Path $work 'app.yml'
        Set-Content $config "timeout: 1`nretries: 0"
        Set-Content (Join-Path $work 'app.previous.yml') "timeout: 30`nretries: 0"
        $child = Invoke-ChildPwsh -Script "Import-Module '$(Get-TestModulePath)'; Invoke-Rollback -Strategy Config -Path '$config' -PreviousPath app.previous.yml -StateDirectory '$state' -WhatIf"
        $child.Output | Should -Match '- timeout: 1'
        $child.Output | Should -Match '\+ timeout: 30'
        Get-Content $config | Select-Object -First 1 | Should -Be 'timeout: 1'
        $result = Invoke-Rollback -Strategy Config -Path $config -PreviousPath app.previous.yml -StateDirectory $state -Confirm:$false -RestartScript { 'reloaded' }
        $result.Outcome | Should -Be 'Succeeded'
        Get-Content $config | Select-Object -First 1 | Should -Be 'timeout: 30'
    }

    It 'reports a missing previous copy by id' {
        $config = Join-Path $work 'app.yml'
        Set-Content $config 'timeout: 1'
        { Invoke-Rollback -Strategy Config -Path $config -StateDirectory $state -Confirm:$false } | Should -Throw -ErrorId 'ConfigPreviousMissing,DeploymentRollback.Commands.InvokeRollbackCommand'
    }

    It 'retries a deployment until it works, one result per attempt' {
        $script:tries = 0
        $results = Invoke-DeploymentRetry -ScriptBlock { $script:tries++; if ($script:tries -lt 2) { throw 'connection refused' } } -Delay 0 -MaxAttempts 3 -TargetKey 'retry:pester' -StateDirectory $state -WarningAction SilentlyContinue
        $results.Outcome | Should -Be @('Failed', 'Succeeded')
        (Get-RollbackHistory -TargetKey 'retry:pester' -StateDirectory $state) | Should -HaveCount 2
    }

    It 'escalates a failure that is not transient and then refuses' {
        $results = Invoke-DeploymentRetry -ScriptBlock { $false } -Delay 0 -TargetKey 'retry:broken' -StateDirectory $state -WarningAction SilentlyContinue
        $results[-1].Outcome | Should -Be 'Escalated'
        (Get-RollbackSignal -Name MANUAL_INTERVENTION_REQUIRED -StateDirectory $state).Subject | Should -Be 'retry:broken'
        { Invoke-DeploymentRetry -ScriptBlock { $true } -Delay 0 -TargetKey 'retry:broken' -StateDirectory $state } | Should -Throw -ErrorId 'RollbackEscalated,DeploymentRollback.Commands.InvokeDeploymentRetryCommand'
    }
}
