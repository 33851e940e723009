"""The collector's Step Functions state machine: its definition (JSONata), list the batches, collect them in
parallel (a failed batch kept, never fatal), finish. templates.py places it in the collector stack, with its
role, logs and schedule; tests/test_state_machine.py runs it in moto's interpreter.
"""

from __future__ import annotations

from typing import Any

LAMBDA_ERRORS = [  # transient failures of the Lambda service itself, not of our code
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]


def lambda_task(payload: object, output: str, **more: object) -> dict[str, Any]:
    """Invoke the collector function; retry only when the Lambda service itself failed."""
    return {
        "Type": "Task",
        "Resource": "${LambdaInvoke}",
        "Arguments": {"FunctionName": "${CollectorFunctionArn}", "Payload": payload},
        "Output": output,
        "Retry": [
            {
                "ErrorEquals": LAMBDA_ERRORS,
                "IntervalSeconds": 2,
                "MaxAttempts": 6,
                "BackoffRate": 2,
                "JitterStrategy": "FULL",
            }
        ],
        **more,
    }


def run_definition() -> dict[str, Any]:
    """List the batches, collect them in parallel (a failed batch is kept, never fatal), finish.

    JSONata, so MaxConcurrency can follow the MapConcurrency parameter: JSONPath wants a literal
    integer there, and DefinitionSubstitutions substitute text (here the expression "{% 5 %}").
    Each ${...} is a DefinitionSubstitutions placeholder, filled in by CloudFormation.
    """
    collect_batch = lambda_task(
        "{% $states.input %}",
        "{% $states.result.Payload %}",
        Catch=[
            {
                "ErrorEquals": ["States.ALL"],
                "Next": "BatchFailed",
                "Output": "{% {'batch': $states.input.batch, 'error': $states.errorOutput.Error, "
                "'cause': $states.errorOutput.Cause} %}",
            }
        ],
        End=True,
    )
    return {
        "Comment": "credsight: one collection run of the organization, in batches.",
        "QueryLanguage": "JSONata",
        "StartAt": "ListBatches",
        "States": {
            "ListBatches": lambda_task({"step": "list"}, "{% $states.result.Payload %}", Next="CollectBatches"),
            "CollectBatches": {
                "Type": "Map",
                "Items": "{% $states.input.batches %}",
                "ItemSelector": {
                    "step": "collect",
                    "run_id": "{% $states.input.run_id %}",
                    "batch": "{% $states.context.Map.Item.Value %}",
                },
                "MaxConcurrency": "${MaxConcurrency}",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "CollectBatch",
                    "States": {
                        "CollectBatch": collect_batch,
                        "BatchFailed": {
                            "Type": "Pass",
                            "Comment": "Keep the error; the other batches go on.",
                            "End": True,
                        },
                    },
                },
                "Output": "{% $merge([$states.input, {'collected': $states.result}]) %}",
                "Next": "Finish",
            },
            "Finish": lambda_task(
                {"step": "finish", "run_id": "{% $states.input.run_id %}"},
                "{% $merge([$states.input, {'finished': $states.result.Payload}]) %}",
                End=True,
            ),
        },
    }
