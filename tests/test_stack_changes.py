"""The sandbox reads a scenario's `stack_change` text the way a change set lists a stack update."""

from __future__ import annotations

from bot.sandbox.aws.stack_changes import PropertyEdit, ResourceEdit, parse_stack_change, typed

MEDIA = """Stack media-resize-prod UPDATE_COMPLETE (change set cap-lambda-concurrency-2291, by ci-deployer)
AWS::Lambda::Function ImageResizeFunction: Modify
  ReservedConcurrentExecutions: 200 -> 20
Description: "cap concurrency so a runaway batch resize cannot starve the account's Lambda pool"
"""


def test_a_modified_property_with_its_values_the_change_set_and_description() -> None:
    sc = parse_stack_change(MEDIA)
    assert sc.explicit
    assert sc.resources == (
        ResourceEdit(
            "AWS::Lambda::Function",
            "ImageResizeFunction",
            "Modify",
            (PropertyEdit("ReservedConcurrentExecutions", "200", "20"),),
        ),
    )
    assert sc.change_set_name == "cap-lambda-concurrency-2291"
    assert (
        sc.description == "cap concurrency so a runaway batch resize cannot starve the account's Lambda pool"
    )


def test_several_resources_actions_arrows_and_parameters() -> None:
    text = """Replace AWS::ECS::TaskDefinition ApiTask
      Memory: 2048 → 1024
      ContainerDefinitions[0].Image: api:1.4 => api:1.5
    AWS::SQS::Queue DeadLetters: Add
      MessageRetentionPeriod: 1209600
    AWS::IAM::Role OldRole: Delete
    AWS::AutoScaling::AutoScalingGroup WorkerGroup (update)
      MaxSize: 12 -> 4
    Parameter ImageTag: 1.4 -> 1.5
    """
    sc = parse_stack_change(text)
    by = {r.logical_id: r for r in sc.resources}
    assert [r.action for r in sc.resources] == ["Modify", "Add", "Remove", "Modify"]
    assert by["ApiTask"].replacement and by["ApiTask"].properties == (
        PropertyEdit("Memory", "2048", "1024"),
        PropertyEdit("ContainerDefinitions[0].Image", "api:1.4", "api:1.5"),
    )
    assert by["DeadLetters"].properties == (PropertyEdit("MessageRetentionPeriod", None, "1209600"),)
    assert by["OldRole"].properties == () and not by["WorkerGroup"].replacement
    assert by["WorkerGroup"].properties == (PropertyEdit("MaxSize", "12", "4"),)
    assert sc.parameters == (PropertyEdit("ImageTag", "1.4", "1.5"),)


def test_text_that_names_no_resource_is_a_code_release() -> None:
    sc = parse_stack_change(
        "LaunchTemplate checkout-api-lt version 14 -> 15: add amazon-cloudwatch-agent.json"
    )
    assert not sc.explicit and sc.resources == ()
    assert sc.description.startswith("LaunchTemplate checkout-api-lt version 14 -> 15")


def test_values_as_a_template_holds_them() -> None:
    assert typed("20") == 20 and typed("true") is True and typed("db.r6g.large") == "db.r6g.large"
    assert typed(None) is None
    assert parse_stack_change("AWS::SQS::Queue Q: Modify\n  RedrivePolicy: none -> x").resources[
        0
    ].properties[0] == PropertyEdit("RedrivePolicy", None, "x")
