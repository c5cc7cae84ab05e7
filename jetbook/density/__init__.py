"""What a flow computes about images: bits per dimension under the exact likelihood convention
(`likelihood`), uniform or learned dequantization and its bound (`dequantization`), sampling
at a temperature with optional guidance (`sampling`), and classification by Bayes' rule with a
class-conditional flow (`bayes`)."""
