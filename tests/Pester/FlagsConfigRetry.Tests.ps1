BeforeDiscovery {
    # The real Unleash server build.ps1 Test starts; without it these tests skip, except in CI, where they must fail.
    $skipUnleash = -not $env:DEPLOYMENT_ROLLBACK_UNLEASH_URL -and $env:DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION -ne '1'
}

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

    It 'refuses a previous copy or flag file that is not a readable regular file by id, before reading or changing anything' -Skip:$IsWindows {
        $config = Join-Path $work 'app.yml'
        Set-Content $config 'timeout: 1'
        $settings = Join-Path $work 'appsettings.json'
        Set-Content $settings '{ "FeatureManagement": { "NewCheckout": true, "NewCheckout": false } }'
        & mkfifo (Join-Path $work 'fifo.yml')
        New-Item -ItemType SymbolicLink -Path (Join-Path $work 'dangling.yml') -Target (Join-Path $work 'gone.yml') | Out-Null
        New-Item -ItemType SymbolicLink -Path (Join-Path $work 'loop-a.yml') -Target (Join-Path $work 'loop-b.yml') | Out-Null
        New-Item -ItemType SymbolicLink -Path (Join-Path $work 'loop-b.yml') -Target (Join-Path $work 'loop-a.yml') | Out-Null
        $id = ',DeploymentRollback.Commands.InvokeRollbackCommand'

        # /dev/null would have emptied the live file; a FIFO would have hung holding the target's lock.
        foreach ($previous in @('/dev/null', (Join-Path $work 'fifo.yml'), $work)) {
            { Invoke-Rollback -Strategy Config -Path $config -PreviousPath $previous -StateDirectory $state -Confirm:$false } | Should -Throw -ErrorId "FileNotRegular$id"
        }
        { Invoke-Rollback -Strategy Config -Path $config -PreviousPath dangling.yml -StateDirectory $state -Confirm:$false } |
            Should -Throw -ErrorId "ConfigPreviousMissing$id" -ExpectedMessage "*is a link to*gone.yml*which does not exist*"
        { Invoke-Rollback -Strategy Config -Path $config -PreviousPath loop-a.yml -StateDirectory $state -Confirm:$false } | Should -Throw -ErrorId "ConfigPreviousMissing$id"
        { Invoke-Rollback -Strategy Config -Path (Join-Path $work 'dangling.yml') -PreviousPath $config -StateDirectory $state -Confirm:$false } | Should -Throw -ErrorId "ConfigFileNotFound$id"
        { Invoke-Rollback -Strategy Config -Path $work -PreviousPath $config -StateDirectory $state -Confirm:$false } | Should -Throw -ErrorId "FileNotRegular$id"
        { Invoke-Rollback -Strategy FeatureFlag -Provider FeatureManagement -Flag NewCheckout -Path (Join-Path $work 'dangling.yml') -StateDirectory $state -Confirm:$false } |
            Should -Throw -ErrorId "FlagFileInvalid$id"
        { Invoke-Rollback -Strategy FeatureFlag -Provider FeatureManagement -Flag NewCheckout -Path $settings -StateDirectory $state -Confirm:$false } |
            Should -Throw -ErrorId "FlagFileInvalid$id" -ExpectedMessage '*not valid JSON*'

        Get-Content $config | Should -Be 'timeout: 1'
        Get-RollbackHistory -StateDirectory $state | Should -BeNullOrEmpty
    }

    It 'reads a file its user may not read as FileUnreadable, not as a .NET exception' -Skip:($IsWindows -or (id -u) -ne '0') {
        # Root reads every file; the child keeps root's identity without the capability to ignore file permissions,
        # as an on-call account without the right to the file would run.
        $config = Join-Path $work 'app.yml'
        Set-Content $config 'timeout: 1'
        Set-Content (Join-Path $work 'secret.previous.yml') 'timeout: 30'
        & chmod 000 (Join-Path $work 'secret.previous.yml')
        $pwsh = [Environment]::ProcessPath
        $arguments = @(if ([IO.Path]::GetFileNameWithoutExtension($pwsh) -eq 'dotnet') { Join-Path $PSHOME 'pwsh.dll' })
        $script = "Import-Module '$(Get-TestModulePath)'; try { Invoke-Rollback -Strategy Config -Path '$config' -PreviousPath secret.previous.yml -StateDirectory '$state' -Confirm:`$false -ErrorAction Stop } catch { `$_.FullyQualifiedErrorId }"
        $output = & setpriv --inh-caps=-dac_override,-dac_read_search --bounding-set=-dac_override,-dac_read_search $pwsh @arguments -NoProfile -NonInteractive -Command $script 2>&1
        ($output -join "`n") | Should -Match 'FileUnreadable,DeploymentRollback.Commands.InvokeRollbackCommand'
        Get-Content $config | Should -Be 'timeout: 1'
    }

    It 'keeps the owner, group and mode of a config or flag file it rewrites' -Skip:($IsWindows -or $IsMacOS -or (id -u) -ne '0') {
        # Run as root, the rewritten file used to become root's, and the app's own user could no longer read it.
        $config = Join-Path $work 'app.yml'
        Set-Content $config 'timeout: 1'
        Set-Content (Join-Path $work 'app.previous.yml') 'timeout: 30'
        $settings = Join-Path $work 'appsettings.json'
        Set-Content $settings '{ "FeatureManagement": { "NewCheckout": true } }'
        foreach ($file in $config, $settings) {
            & chown nobody:nogroup $file
            & chmod 640 $file
        }
        (Invoke-Rollback -Strategy Config -Path $config -PreviousPath app.previous.yml -StateDirectory $state -Confirm:$false).Outcome | Should -Be 'Succeeded'
        (Invoke-Rollback -Strategy FeatureFlag -Provider FeatureManagement -Flag NewCheckout -Path $settings -StateDirectory $state -Confirm:$false).Outcome | Should -Be 'Succeeded'
        Get-Content $config | Should -Be 'timeout: 30'
        foreach ($file in $config, $settings) {
            & stat -c '%U:%G %a' $file | Should -Be 'nobody:nogroup 640'
        }
    }

    It 'turns a flag off in a Latin-1 or UTF-16 flag file without changing any other byte' {
        foreach ($encoding in @([Text.Encoding]::Latin1, [Text.UnicodeEncoding]::new($false, $true))) {
            $settings = Join-Path $work "appsettings-$($encoding.WebName).json"
            $text = '{ "Greeting": "caf' + [char]0xE9 + '", "FeatureManagement": { "NewCheckout": true } }'
            [IO.File]::WriteAllBytes($settings, [byte[]]($encoding.GetPreamble() + $encoding.GetBytes($text)))
            (Invoke-Rollback -Strategy FeatureFlag -Provider FeatureManagement -Flag NewCheckout -Path $settings -StateDirectory $state -Confirm:$false).Outcome | Should -Be 'Succeeded'
            $expected = [byte[]]($encoding.GetPreamble() + $encoding.GetBytes($text.Replace('"NewCheckout": true', '"NewCheckout": false')))
            [Convert]::ToHexString([IO.File]::ReadAllBytes($settings)) | Should -Be ([Convert]::ToHexString($expected))
        }
    }

    It 'names a damaged or missing verified copy in the state folder instead of blaming a secret or saying none was recorded' {
        $config = Join-Path $work 'app.yml'
        Set-Content $config 'timeout: 30'
        $null = Test-RollbackHealth -Strategy Config -Path $config -SmokeTest { $true } -RecordVerified -StateDirectory $state
        Set-Content $config 'timeout: 1'
        $copy = Get-ChildItem (Join-Path $state 'snapshots') -Recurse -Filter config.redacted | Select-Object -First 1
        Set-Content $copy.FullName 'garbage'
        { Invoke-Rollback -Strategy Config -Path $config -StateDirectory $state -Confirm:$false } |
            Should -Throw -ErrorId 'StateFileUnusable,DeploymentRollback.Commands.InvokeRollbackCommand' -ExpectedMessage "*$($copy.FullName)*no longer matches*"
        Remove-Item $copy.FullName
        { Invoke-Rollback -Strategy Config -Path $config -StateDirectory $state -Confirm:$false } |
            Should -Throw -ErrorId 'StateFileUnusable,DeploymentRollback.Commands.InvokeRollbackCommand' -ExpectedMessage "*$($copy.FullName)*missing*"
        Get-Content $config | Should -Be 'timeout: 1'
        Get-RollbackHistory -StateDirectory $state | Should -BeNullOrEmpty
    }

    It 'keeps the failed config in its checkpoint byte for byte, in its own encoding' {
        foreach ($encoding in @([Text.UnicodeEncoding]::new($false, $true), [Text.Encoding]::Latin1, [Text.UTF8Encoding]::new($true))) {
            $config = Join-Path $work "app-$($encoding.WebName).yml"
            $failed = [byte[]]($encoding.GetPreamble() + $encoding.GetBytes("greeting: caf$([char]0xE9)`r`nmode: new`r`n"))
            [IO.File]::WriteAllBytes($config, $failed)
            Set-Content (Join-Path $work 'app.previous.yml') 'mode: old'
            $result = Invoke-Rollback -Strategy Config -Path $config -PreviousPath app.previous.yml -StateDirectory $state -Confirm:$false
            $result.Outcome | Should -Be 'Succeeded'
            $copy = Join-Path (Get-RollbackCheckpoint -Name $result.CheckpointName -StateDirectory $state).Folder (Split-Path $config -Leaf)
            [Convert]::ToHexString([IO.File]::ReadAllBytes($copy)) | Should -Be ([Convert]::ToHexString($failed)) -Because $encoding.WebName
        }
    }

    It 'says under -WhatIf what differs when no line does (line endings, encoding, the final newline)' {
        $config = Join-Path $work 'app.yml'
        [IO.File]::WriteAllText($config, "timeout: 30`r`nretries: 0`r`n")
        [IO.File]::WriteAllText((Join-Path $work 'app.previous.yml'), "timeout: 30`nretries: 0`n")
        $child = Invoke-ChildPwsh -Script "Import-Module '$(Get-TestModulePath)'; Invoke-Rollback -Strategy Config -Path '$config' -PreviousPath app.previous.yml -StateDirectory '$state' -WhatIf"
        $child.Output | Should -Match '~ the line endings \(CRLF -> LF\)'
        [IO.File]::ReadAllText($config) | Should -Be "timeout: 30`r`nretries: 0`r`n"
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

Describe 'Feature flag kill switch on a real Unleash server' -Skip:$skipUnleash {
    BeforeAll {
        $admin = @{ Authorization = $env:DEPLOYMENT_ROLLBACK_UNLEASH_ADMIN_TOKEN }
        $unleashUri = $env:DEPLOYMENT_ROLLBACK_UNLEASH_URL
        $project = $env:DEPLOYMENT_ROLLBACK_UNLEASH_PROJECT
        $environment = $env:DEPLOYMENT_ROLLBACK_UNLEASH_ENVIRONMENT
        $token = ConvertTo-SecureString $env:DEPLOYMENT_ROLLBACK_UNLEASH_ADMIN_TOKEN -AsPlainText -Force
        function Get-FlagEnabled([string] $flag) {
            ((Invoke-RestMethod "$unleashUri/api/admin/projects/$project/features/$flag" -Headers $admin -SkipHeaderValidation).environments | Where-Object name -EQ $environment).enabled
        }
    }

    It 'turns the flag off, reports it, and restores it' {
        $flag = 'pester-' + [Guid]::NewGuid().ToString('N').Substring(0, 8)
        $null = Invoke-RestMethod -Method Post "$unleashUri/api/admin/projects/$project/features" -Headers $admin -SkipHeaderValidation -ContentType 'application/json' -Body (@{ name = $flag; type = 'release' } | ConvertTo-Json)
        $null = Invoke-RestMethod -Method Post "$unleashUri/api/admin/projects/$project/features/$flag/environments/$environment/on" -Headers $admin -SkipHeaderValidation
        $state = Join-Path $TestDrive $flag
        $target = @{ Strategy = 'FeatureFlag'; Provider = 'Unleash'; Flag = $flag; Uri = $unleashUri; Project = $project; Environment = $environment; ApiToken = $token; StateDirectory = $state }

        $assessment = Get-RollbackAssessment @target
        $result = $assessment | Invoke-Rollback @target -Confirm:$false
        $assessment.CurrentVersion | Should -Be 'enabled'
        $result.Outcome | Should -Be 'Succeeded'
        Get-FlagEnabled $flag | Should -BeFalse
        Get-Content -Raw ($result | New-RollbackIncidentReport).MarkdownPath | Should -Not -Match ([regex]::Escape($env:DEPLOYMENT_ROLLBACK_UNLEASH_ADMIN_TOKEN))
        (Invoke-Rollback @target -Restore -Confirm:$false).Outcome | Should -Be 'Succeeded'
        Get-FlagEnabled $flag | Should -BeTrue
    }

    It 'refuses a wrong token by id and changes nothing' {
        $wrong = ConvertTo-SecureString '*:*.not-the-admin-token' -AsPlainText -Force
        { Invoke-Rollback -Strategy FeatureFlag -Provider Unleash -Flag new-checkout -Uri $unleashUri -Project $project -Environment $environment -ApiToken $wrong -StateDirectory (Join-Path $TestDrive 'wrong') -Confirm:$false } |
            Should -Throw -ErrorId 'FlagServiceUnauthorized,DeploymentRollback.Commands.InvokeRollbackCommand'
        Get-FlagEnabled 'new-checkout' | Should -BeTrue
    }
}
