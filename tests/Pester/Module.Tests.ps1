BeforeDiscovery {
    $documentedCmdlets = 'Get-RollbackAssessment', 'Get-RollbackChecklist', 'Get-RollbackLock', 'Unlock-RollbackTarget', 'Copy-RollbackState', 'Get-RollbackCheckpoint', 'Get-RollbackHistory', 'Get-RollbackSignal',
        'Invoke-DeploymentRetry', 'Invoke-Rollback', 'New-RollbackCheckpoint', 'New-RollbackIncidentReport', 'Send-RollbackSignal', 'Test-RollbackHealth', 'Test-RollbackPlan', 'New-RollbackPlan', 'Get-RollbackMetrics', 'Watch-RollbackTarget',
        'ConvertFrom-RollbackAlert', 'Start-RollbackSignalListener'
    $outputTypes = 'RollbackAssessment', 'RollbackCheckpoint', 'RollbackResult', 'HealthReport', 'RollbackSignal', 'IncidentReport', 'ChecklistItem', 'VerifiedVersion',
        'PlanAssessment', 'ComponentAssessment', 'ReleaseSnapshot', 'PlanValidation', 'ComponentOutcome', 'RollbackMetrics', 'WatchReport', 'ListenerReport', 'WatchDecision', 'WatchMeasurement'
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $modulePath = Get-TestModulePath
    $expectedCmdlets = 'ConvertFrom-RollbackAlert', 'Copy-RollbackState', 'Get-RollbackAssessment', 'Get-RollbackChecklist', 'Get-RollbackCheckpoint', 'Get-RollbackHistory', 'Get-RollbackLock', 'Get-RollbackMetrics', 'Get-RollbackSignal',
        'Invoke-DeploymentRetry', 'Invoke-Rollback', 'New-RollbackCheckpoint', 'New-RollbackIncidentReport', 'New-RollbackPlan', 'Send-RollbackSignal', 'Start-RollbackSignalListener', 'Test-RollbackHealth', 'Test-RollbackPlan', 'Unlock-RollbackTarget', 'Watch-RollbackTarget'
    Import-Module $modulePath -Force
}

Describe 'The module manifest' {
    BeforeAll { $manifest = Test-ModuleManifest $modulePath }

    It 'is complete' {
        $manifest.Version | Should -BeGreaterThan ([version]'0.0.0')
        $manifest.PowerShellVersion | Should -Be ([version]'7.4')
        $manifest.CompatiblePSEditions | Should -Be @('Core')
        $manifest.Author | Should -Not -BeNullOrEmpty
        $manifest.Description | Should -Not -BeNullOrEmpty
        $manifest.Tags | Should -Contain 'rollback'
        $manifest.ProjectUri | Should -Not -BeNullOrEmpty
        $manifest.LicenseUri | Should -Not -BeNullOrEmpty
    }

    It 'exports exactly the module cmdlets' {
        (Get-Command -Module DeploymentRollback).Name | Sort-Object | Should -Be $expectedCmdlets
        $manifest.ExportedCmdlets.Keys | Sort-Object | Should -Be $expectedCmdlets
    }
}

Describe 'Importing the module' {
    It 'prints nothing, warns of nothing, and loads no third-party assembly until one is needed' {
        $child = Invoke-ChildPwsh -Script @"
`$ErrorActionPreference = 'Stop'
Import-Module '$modulePath' -WarningVariable warnings 6>&1 5>&1 4>&1 3>&1 | ForEach-Object { "STREAM: `$_" }
"warnings: `$(`$warnings.Count)"
"loaded: `$([DeploymentRollback.Commands.InternalHooks]::LoadedThirdPartyAssemblies() -join ',')"
"@
        $child.ExitCode | Should -Be 0
        $child.Error | Should -BeNullOrEmpty
        $child.Output | Should -Not -Match 'STREAM:'
        $child.Output | Should -Match 'warnings: 0'
        $child.Output | Should -Match 'loaded: \r?\n'
    }
}

Describe 'Assembly isolation' {
    It 'works beside other versions of YamlDotNet and Newtonsoft.Json loaded first' {
        $packages = (dotnet nuget locals global-packages --list) -replace '^global-packages:\s*', ''
        $yaml = Join-Path $packages.Trim() 'yamldotnet/11.2.1/lib/netstandard2.1/YamlDotNet.dll'
        $newtonsoft = Join-Path $packages.Trim() 'newtonsoft.json/12.0.3/lib/netstandard2.0/Newtonsoft.Json.dll'
        $yaml | Should -Exist
        $newtonsoft | Should -Exist
        $work = Join-Path $TestDrive 'isolation'
        $repo = New-TestRepository (Join-Path $work 'repo')
        $kubeconfig = Join-Path $work 'kubeconfig'
        Set-Content $kubeconfig @'
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:6443
    insecure-skip-tls-verify: true
contexts:
- name: test
  context: { cluster: test, user: test, namespace: default }
current-context: test
users:
- name: test
  user: { token: not-a-real-token }
'@
        $child = Invoke-ChildPwsh -Script @"
`$ErrorActionPreference = 'Stop'
# Another module's dependencies, loaded into the default context before ours (Add-Type loads the exact file).
Add-Type -Path '$yaml'
try { Add-Type -Path '$newtonsoft' } catch { "newtonsoft: pwsh already holds its own Newtonsoft.Json (`$([Newtonsoft.Json.JsonConvert].Assembly.GetName().Version))" }
`$yamlBefore = [YamlDotNet.Serialization.Deserializer].Assembly.GetName().Version
Import-Module '$modulePath'
`$assessment = Get-RollbackAssessment -Strategy Git -Path '$repo' -StateDirectory '$work/state'
"assessment: `$(`$assessment.CurrentVersion) -> `$(`$assessment.LastGoodVersion)"
[DeploymentRollback.Commands.InternalHooks]::ConstructClients('$kubeconfig', 'unix:///var/run/docker.sock') | ForEach-Object { "client: `$_" }
"default yaml: `$yamlBefore / `$([YamlDotNet.Serialization.Deserializer].Assembly.GetName().Version)"
"@
        $child.Error | Should -BeNullOrEmpty
        $child.ExitCode | Should -Be 0
        $child.Output | Should -Match 'assessment: v2.3.1 -> v2.3.0'
        $child.Output | Should -Match 'client: KubernetesClient \S+ \[DeploymentRollback\] https://127.0.0.1:6443/'
        $child.Output | Should -Match 'client: YamlDotNet (1[2-9]|[2-9]\d)\.\S+ \[DeploymentRollback\]'
        $child.Output | Should -Match 'client: Docker.DotNet \S+ \[DeploymentRollback\] unix:///var/run/docker.sock'
        $child.Output | Should -Match 'client: LibGit2Sharp \S+ \[DeploymentRollback\]'
        $child.Output | Should -Match 'default yaml: 11\.0\.0\.0 / 11\.0\.0\.0'
    }
}

Describe 'Help' {
    It '<_> has a synopsis, a description, an example and a description for every parameter' -ForEach $documentedCmdlets {
        $help = Get-Help $_ -Full
        $help.Synopsis | Should -Not -BeNullOrEmpty
        $help.Synopsis | Should -Not -Match '^\s*\S+\s+\['
        ($help.Description.Text -join '') | Should -Not -BeNullOrEmpty
        @($help.Examples.Example).Count | Should -BeGreaterThan 0
        $common = [System.Management.Automation.PSCmdlet]::CommonParameters
        foreach ($parameter in (Get-Command $_).Parameters.Keys | Where-Object { $_ -notin $common }) {
            $parameterHelp = $help.Parameters.Parameter | Where-Object Name -EQ $parameter
            ($parameterHelp.Description.Text -join '') | Should -Not -BeNullOrEmpty -Because "-$parameter needs a description"
        }
    }

    It 'has the about_DeploymentRollback topic' {
        (Get-Help about_DeploymentRollback | Out-String) | Should -Match 'DeploymentRollback'
    }

    It 'has a topic for every strategy, which the cmdlet pages point to' {
        foreach ($strategy in [DeploymentRollback.Commands.InternalHooks]::EngineStrategies()) {
            $topic = Get-Help "about_DeploymentRollback_$strategy" | Out-String
            $topic | Should -Match "about_DeploymentRollback_$strategy" -Because "the $strategy strategy needs its help topic"
            $topic | Should -Match 'PARAMETERS|EXAMPLES'
        }
        (Get-Help Invoke-Rollback -Full | Out-String) | Should -Match 'about_DeploymentRollback_Kubernetes'
    }
}

Describe 'Formatting and completion' {
    It 'has a default table view for <_>' -ForEach $outputTypes {
        Get-FormatData -TypeName "DeploymentRollback.$_" | Should -Not -BeNullOrEmpty
    }

    It 'completes -Strategy names' {
        $line = 'Invoke-Rollback -Strategy Gi'
        (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Contain 'Git'
    }

    It 'offers only the named strategy''s parameters for completion, and every strategy has a parameter class' {
        $engine = [DeploymentRollback.Commands.InternalHooks]::EngineStrategies()
        @([DeploymentRollback.Commands.StrategyParameters]::Strategies.Keys | Sort-Object) | Should -Be @($engine | Sort-Object)
        $line = 'Invoke-Rollback Kubernetes -Na'
        $offered = (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText
        $offered | Should -Contain '-Name'
        $offered | Should -Contain '-Namespace'
        $line = 'Invoke-Rollback Git -Na'
        (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Not -Contain '-Namespace'
        $line = 'Get-RollbackAssessment -Strategy Kubernetes -Se'
        (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Not -Contain '-Selector'
    }

    It 'completes Git -Target with the repository tags, newest first' {
        $repo = New-TestRepository (Join-Path $TestDrive 'completion')
        $line = "Invoke-Rollback -Strategy Git -Path '$repo' -Target v2."
        (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be @('v2.3.1', 'v2.3.0', 'v2.2.0')
    }

    It 'completes signal names' {
        $line = 'Send-RollbackSignal -Name ROLLBACK_C'
        (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be @('ROLLBACK_COMPLETE')
    }
}

Describe 'Packaging' {
    It 'publishes a nupkg to a local repository that installs and imports, and lays out the Azure Automation zip' {
        $repository = Join-Path $TestDrive 'repository'
        $zip = Join-Path $TestDrive 'DeploymentRollback.zip'
        New-Item -ItemType Directory $repository | Out-Null
        $moduleFolder = Split-Path $modulePath
        $child = Invoke-ChildPwsh -Script "& '$PSScriptRoot/../../tools/Publish-Module.ps1' -ModuleFolder '$moduleFolder' -RepositoryPath '$repository' -ZipPath '$zip'"
        $child.Error | Should -BeNullOrEmpty
        Get-ChildItem $repository -Filter 'DeploymentRollback.*.nupkg' | Should -HaveCount 1
        $entries = [IO.Compression.ZipFile]::OpenRead($zip)
        try { $entries.Entries.FullName | Should -Contain 'DeploymentRollback/DeploymentRollback.psd1' } finally { $entries.Dispose() }

        $installed = Join-Path $TestDrive 'installed'
        New-Item -ItemType Directory $installed | Out-Null
        $repo = New-TestRepository (Join-Path $TestDrive 'package-repo')
        $check = Invoke-ChildPwsh -Script @"
`$ErrorActionPreference = 'Stop'
Register-PSResourceRepository -Name DrPackageTest -Uri '$repository' -Trusted
try { Save-PSResource -Name DeploymentRollback -Repository DrPackageTest -Path '$installed' -TrustRepository } finally { Unregister-PSResourceRepository -Name DrPackageTest }
Import-Module '$installed/DeploymentRollback'
"version=`$((Get-Module DeploymentRollback).Version) last-good=`$((Get-RollbackAssessment -Strategy Git -Path '$repo' -StateDirectory '$TestDrive/package-state').LastGoodVersion)"
"@
        $check.Error | Should -BeNullOrEmpty
        $check.Output | Should -Match 'version=\d+\.\d+\.\d+ last-good=v2.3.0'
    }
}
